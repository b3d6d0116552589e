"""Hyperparameters of the batched SE-kernel GP, and a data heuristic to set them.

One set per batch element (each image, or each image x channel, has its own GP):

- ``lengthscale``: (B, 1) shared by all input dimensions, or (B, d_in) per dimension (ARD);
- ``signal_variance``: (B,), the kernel's ``s2``;
- ``noise_variance``: (B,), the Gaussian likelihood's variance;
- ``mean``: (B, d_out), a constant prior mean per output (zero, or the target mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lowlight.gp.kernels import check_lengthscale, check_points


@dataclass
class SEHyperparameters:
    """Hyperparameters of a batch of independent SE-kernel GPs (see the module docstring)."""

    lengthscale: Tensor
    signal_variance: Tensor
    noise_variance: Tensor
    mean: Tensor

    @property
    def batch_size(self) -> int:
        return self.lengthscale.shape[0]

    @property
    def is_ard(self) -> bool:
        """Whether the lengthscale is per input dimension."""
        return self.lengthscale.shape[1] > 1

    @classmethod
    def from_log(
        cls,
        log_lengthscale: Tensor,
        log_signal_variance: Tensor,
        log_noise_variance: Tensor,
        mean: Tensor,
    ) -> SEHyperparameters:
        """Build from log-parameters (the unconstrained form that optimisers and gradients use)."""
        return cls(log_lengthscale.exp(), log_signal_variance.exp(), log_noise_variance.exp(), mean)

    @classmethod
    def constant(
        cls,
        batch: int,
        d_out: int,
        lengthscale: float,
        signal_variance: float,
        noise_variance: float,
        *,
        mean: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> SEHyperparameters:
        """The same scalar values for every batch element (shared lengthscale)."""
        options = {"dtype": dtype, "device": device}
        return cls(
            lengthscale=torch.full((batch, 1), float(lengthscale), **options),
            signal_variance=torch.full((batch,), float(signal_variance), **options),
            noise_variance=torch.full((batch,), float(noise_variance), **options),
            mean=torch.full((batch, d_out), float(mean), **options),
        )

    def log_parameters(self) -> tuple[Tensor, Tensor, Tensor]:
        """(log lengthscale, log signal variance, log noise variance)."""
        return self.lengthscale.log(), self.signal_variance.log(), self.noise_variance.log()

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(lengthscale, signal variance, noise variance, mean)."""
        return self.lengthscale, self.signal_variance, self.noise_variance, self.mean

    def to(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> SEHyperparameters:
        """All four tensors cast / moved (differentiable)."""
        return SEHyperparameters(*(t.to(device=device, dtype=dtype) for t in self.tensors()))

    def detach(self) -> SEHyperparameters:
        return SEHyperparameters(*(t.detach() for t in self.tensors()))

    def select(self, index: int) -> SEHyperparameters:
        """Batch element ``index`` alone (a batch of one; differentiable)."""
        return SEHyperparameters(*(t[index : index + 1] for t in self.tensors()))

    def validate(self, batch: int, d_in: int, d_out: int, *, allow_zero_noise: bool = True) -> None:
        """Raise ``ValueError`` on a wrong shape or a non-positive / non-finite value.

        Args:
            batch, d_in, d_out: the sizes of the training data the GP is used with.
            allow_zero_noise: accept ``noise_variance == 0`` (noise-free interpolation; the
                Cholesky jitter then keeps the solve finite).
        """
        check_lengthscale(self.lengthscale, batch, d_in)
        variances = (("signal_variance", self.signal_variance), ("noise_variance", self.noise_variance))
        for name, value in variances:
            if value.shape != (batch,):
                raise ValueError(f"{name}: expected ({batch},), got {tuple(value.shape)}")
        signal = self.signal_variance
        if not bool((signal > 0).all()) or not bool(torch.isfinite(signal).all()):
            raise ValueError(f"signal_variance must be finite and > 0, got {signal.tolist()}")
        noise_ok = (self.noise_variance >= 0) if allow_zero_noise else (self.noise_variance > 0)
        if not bool(noise_ok.all()) or not bool(torch.isfinite(self.noise_variance).all()):
            bound = ">= 0" if allow_zero_noise else "> 0"
            got = self.noise_variance.tolist()
            raise ValueError(f"noise_variance must be finite and {bound}, got {got}")
        if self.mean.shape != (batch, d_out):
            raise ValueError(f"mean: expected ({batch}, {d_out}), got {tuple(self.mean.shape)}")
        if not bool(torch.isfinite(self.mean).all()):
            raise ValueError("mean must be finite")


@dataclass
class HeuristicOptions:
    """Options of :func:`heuristic_hyperparameters`.

    Attributes:
        noise_fraction: noise variance as a fraction of the signal variance.
        fallback_lengthscale: used where every pairwise distance is zero (all points equal: the
            kernel is then constant over the training set and any lengthscale fits it).
        min_signal_variance: floor for constant targets, whose variance is zero.
    """

    noise_fraction: float = 0.01
    fallback_lengthscale: float = 1.0
    min_signal_variance: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("noise_fraction", "fallback_lengthscale", "min_signal_variance"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")


def heuristic_hyperparameters(
    train_x: Tensor, train_y: Tensor, options: HeuristicOptions | None = None
) -> SEHyperparameters:
    """Hyperparameters from the data alone (no optimisation); a start for :func:`maximise_marginal_likelihood`.

    - lengthscale: the median of the non-zero pairwise distances ``|x_i - x_j|`` (i < j) of the
      training inputs (the "median heuristic"). Zero distances (duplicate points,
      e.g. k-means centres of a flat image) are left out; where none is left the lengthscale is
      ``fallback_lengthscale``.
    - signal variance: the variance of the targets around their per-output mean, pooled over
      outputs (population variance), at least ``min_signal_variance``.
    - noise variance: ``noise_fraction * signal variance``.
    - mean: the per-output target mean.

    Args:
        train_x: (B, k, d_in) float.
        train_y: (B, k, d_out) float.
        options: :class:`HeuristicOptions`; defaults when ``None``.

    Returns:
        :class:`SEHyperparameters` in the dtype and on the device of ``train_x``, detached.
    """
    options = options or HeuristicOptions()
    check_points(train_x, "train_x")
    check_points(train_y, "train_y", batch=train_x.shape[0])
    if train_y.shape[1] != train_x.shape[1]:
        raise ValueError(
            "train_x and train_y hold different numbers of points: "
            f"{tuple(train_x.shape)} vs {tuple(train_y.shape)}"
        )
    x = train_x.detach().double()
    y = train_y.detach().to(x)
    k = x.shape[1]
    rows, cols = torch.triu_indices(k, k, offset=1, device=x.device)
    pair_diff = x[:, rows] - x[:, cols]  # (B, P, d_in), P = k (k - 1) / 2
    distances = pair_diff.square().sum(-1).sqrt().unsqueeze(1)  # (B, 1, P)
    median, found = _median_of_positive(distances)  # (B, 1)
    lengthscale = torch.where(found, median, torch.full_like(median, options.fallback_lengthscale))
    target_mean = y.mean(1)  # (B, d_out)
    signal_variance = (y - target_mean.unsqueeze(1)).square().mean((1, 2))  # (B,)
    signal_variance = signal_variance.clamp_min(options.min_signal_variance)
    noise_variance = options.noise_fraction * signal_variance
    result = SEHyperparameters(lengthscale, signal_variance, noise_variance, target_mean)
    return result.to(dtype=train_x.dtype)


def _median_of_positive(values: Tensor) -> tuple[Tensor, Tensor]:
    """Median over the last dimension of the entries > 0 (lower median), and where there are any.

    Args:
        values: (B, G, P) float >= 0.

    Returns:
        ``(median, found)``: (B, G) float (meaningless where not found) and (B, G) bool.
    """
    if values.shape[-1] == 0:
        return values.new_zeros(values.shape[:-1]), values.new_zeros(values.shape[:-1], dtype=torch.bool)
    positive = values > 0
    count = positive.sum(-1)  # (B, G)
    # zeros sort first when replaced by -inf; the median of the positive tail is then at an offset
    ordered = torch.where(positive, values, torch.full_like(values, -torch.inf)).sort(-1).values
    first = values.shape[-1] - count
    index = (first + (count - 1).clamp_min(0) // 2).clamp_max(values.shape[-1] - 1)
    median = ordered.gather(-1, index.unsqueeze(-1)).squeeze(-1)
    return median, count > 0
