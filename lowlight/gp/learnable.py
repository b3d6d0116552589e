"""Learnable GP hyperparameters: the one ``nn.Module`` through which end-to-end training learns them.

Each of ``n_groups`` groups (1 for LM and the paper's shared CM GP, 3 for CM with one GP per
channel) has three log-parameters, in one of two parametrisations:

- ``"relative"``: offsets added to the log of the per-image heuristic
  (:func:`lowlight.gp.hyperparameters.heuristic_hyperparameters`: median centre distance, target
  variance, ``noise_fraction`` of it). Zero offsets reproduce the heuristic, and the learned
  values keep adapting to each image's darkness (a dark image's patches are close together, so
  its median distance is small).
- ``"absolute"``: the log-hyperparameters themselves, shared by every image; set from the
  heuristic on a first batch (:meth:`LearnedHyperparameters.initialise`).

The prior mean is the per-output mean of each GP's targets, as in the heuristic. A batch of
G = N n_groups GPs is laid out group-fastest: GP g uses group ``g % n_groups``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from lowlight.gp.hyperparameters import (
    HeuristicOptions,
    SEHyperparameters,
    heuristic_hyperparameters,
)

Parametrisation = Literal["relative", "absolute"]

#: names of the learned tensors in a shipped checkpoint (``lowlight.enhance.checkpoints`` ``extra``)
CHECKPOINT_TENSORS = ("gp.log_lengthscale", "gp.log_signal_variance", "gp.log_noise_variance")


def _check_parametrisation(parametrisation: str) -> None:
    if parametrisation not in ("relative", "absolute"):
        raise ValueError(f"parametrisation must be 'relative' or 'absolute', got {parametrisation!r}")


def learned_se_hyperparameters(
    train_x: Tensor,
    train_y: Tensor,
    log_lengthscale: Tensor,
    log_signal_variance: Tensor,
    log_noise_variance: Tensor,
    parametrisation: Parametrisation = "relative",
    noise_fraction: float = 0.01,
) -> SEHyperparameters:
    """Hyperparameters of G GPs from per-group log-parameters (differentiable in all inputs).

    Args:
        train_x: (G, k, d_in) float, the GP inputs.
        train_y: (G, k, d_out) float, the targets.
        log_lengthscale: (n, 1) float, n dividing G; element g uses group ``g % n``.
        log_signal_variance: (n,) float.
        log_noise_variance: (n,) float.
        parametrisation: ``"relative"`` (offsets to the log heuristic of each element, computed
            without gradient) or ``"absolute"`` (the log values themselves).
        noise_fraction: the heuristic's noise variance / signal variance (relative only).

    Returns:
        :class:`SEHyperparameters` for batch G with a shared lengthscale (G, 1) and the
        differentiable target mean (G, d_out).
    """
    _check_parametrisation(parametrisation)
    n = log_signal_variance.shape[0]
    if log_lengthscale.shape != (n, 1) or log_noise_variance.shape != (n,):
        raise ValueError(
            "expected log_lengthscale (n, 1), log_signal_variance (n,), log_noise_variance (n,); got "
            f"{tuple(log_lengthscale.shape)}, {tuple(log_signal_variance.shape)}, "
            f"{tuple(log_noise_variance.shape)}"
        )
    batch = train_x.shape[0]
    if n == 0 or batch % n != 0:
        raise ValueError(f"batch {batch} is not a multiple of the {n} hyperparameter groups")
    group = torch.arange(batch, device=train_x.device) % n  # (G,)
    log_l, log_s, log_n = log_lengthscale[group], log_signal_variance[group], log_noise_variance[group]
    if parametrisation == "relative":
        base = heuristic_hyperparameters(
            train_x.detach(), train_y.detach(), HeuristicOptions(noise_fraction=noise_fraction)
        )
        base_l, base_s, base_n = base.log_parameters()  # (G, 1), (G,), (G,)
        log_l, log_s, log_n = base_l + log_l, base_s + log_s, base_n + log_n
    return SEHyperparameters.from_log(log_l, log_s, log_n, train_y.mean(1))


class LearnedHyperparameters(nn.Module):
    """Per-group log-hyperparameters as ``nn.Parameter`` s (see the module doc).

    Args:
        n_groups: hyperparameter groups per image: 1, or the channel count with one GP per channel.
        parametrisation: ``"relative"`` (offsets to the heuristic, start at 0) or ``"absolute"``
            (call :meth:`initialise` before the first use).
    """

    initialised: Tensor

    def __init__(self, n_groups: int = 1, parametrisation: Parametrisation = "relative") -> None:
        super().__init__()
        if n_groups < 1:
            raise ValueError(f"n_groups must be >= 1, got {n_groups!r}")
        _check_parametrisation(parametrisation)
        self.n_groups = n_groups
        self.parametrisation = parametrisation
        self.log_lengthscale = nn.Parameter(torch.zeros(n_groups, 1))
        self.log_signal_variance = nn.Parameter(torch.zeros(n_groups))
        self.log_noise_variance = nn.Parameter(torch.zeros(n_groups))
        # a buffer, so that a resumed Lightning checkpoint does not initialise twice
        self.register_buffer("initialised", torch.tensor(parametrisation == "relative"))

    def forward(self, train_x: Tensor, train_y: Tensor, noise_fraction: float = 0.01) -> SEHyperparameters:
        """:func:`learned_se_hyperparameters` with this module's parameters.

        Args:
            train_x: (G, k, d_in) float, G = N ``n_groups``.
            train_y: (G, k, d_out) float.
            noise_fraction: the heuristic's noise fraction (relative only).

        Raises:
            RuntimeError: absolute parameters not initialised yet.
        """
        if not bool(self.initialised):
            raise RuntimeError("absolute hyperparameters are not set: call initialise_from_heuristic first")
        return learned_se_hyperparameters(
            train_x, train_y, self.log_lengthscale, self.log_signal_variance,
            self.log_noise_variance, self.parametrisation, noise_fraction,
        )

    @torch.no_grad()
    def initialise(self, heuristic: SEHyperparameters) -> None:
        """Absolute: set each group to the median over images of ``heuristic`` (G = N ``n_groups``
        GPs, shared lengthscales); relative: reset the offsets to 0 (the heuristic itself)."""
        parameters = (self.log_lengthscale, self.log_signal_variance, self.log_noise_variance)
        if self.parametrisation == "relative":
            for parameter in parameters:
                parameter.zero_()
        else:
            for parameter, value in zip(parameters, heuristic.log_parameters(), strict=True):
                per_group = value.reshape(-1, self.n_groups, *value.shape[1:])  # (N, n, ...)
                parameter.copy_(per_group.median(dim=0).values.to(parameter))
        self.initialised.fill_(True)

    def checkpoint_tensors(self) -> dict[str, Tensor]:
        """The learned tensors by their :data:`CHECKPOINT_TENSORS` names (detached, on the CPU)."""
        values = (self.log_lengthscale, self.log_signal_variance, self.log_noise_variance)
        return {name: value.detach().cpu().clone() for name, value in zip(CHECKPOINT_TENSORS, values, strict=True)}

    @classmethod
    def from_checkpoint_tensors(cls, tensors: dict[str, Tensor],
                                parametrisation: Parametrisation = "relative") -> LearnedHyperparameters | None:
        """Rebuild from a checkpoint's tensors; ``None`` when it holds none.

        Raises:
            ValueError: some but not all learned tensors, or inconsistent shapes.
        """
        present = [name for name in CHECKPOINT_TENSORS if name in tensors]
        if not present:
            return None
        if len(present) != len(CHECKPOINT_TENSORS):
            missing = sorted(set(CHECKPOINT_TENSORS) - set(present))
            raise ValueError(f"checkpoint holds learned GP tensors {present} but misses {missing}")
        log_lengthscale, log_signal_variance, log_noise_variance = (tensors[n] for n in CHECKPOINT_TENSORS)
        n_groups = log_signal_variance.shape[0] if log_signal_variance.ndim == 1 else -1
        if n_groups < 1 or log_lengthscale.shape != (n_groups, 1) or log_noise_variance.shape != (n_groups,):
            raise ValueError(
                "learned GP tensors have inconsistent shapes: "
                f"{[tuple(tensors[n].shape) for n in CHECKPOINT_TENSORS]}"
            )
        layer = cls(n_groups, parametrisation)
        with torch.no_grad():
            layer.log_lengthscale.copy_(log_lengthscale)
            layer.log_signal_variance.copy_(log_signal_variance)
            layer.log_noise_variance.copy_(log_noise_variance)
        layer.initialised.fill_(True)
        return layer

    def extra_repr(self) -> str:
        return f"n_groups={self.n_groups}, parametrisation={self.parametrisation!r}"
