"""The clustered GP with learnable hyperparameters: the differentiable head of end-to-end training.

The clustering is :func:`lowlight.pipeline.fit_clustered_gp`'s (assignments without gradient,
centres as differentiable means of their members); only the GP's hyperparameters differ. Each of
``n_groups`` groups (1 for LM and the paper's shared CM GP, 3 for CM with ``per_channel``) has
three log-parameters:

- ``"relative"``: offsets added to the log of the per-image heuristic
  (:func:`lowlight.gp.hyperparameters.heuristic_hyperparameters`: median centre distance, target
  variance, ``noise_fraction`` of it). Zero offsets reproduce the two-stage pipeline exactly, and
  the learned values keep adapting to each image's darkness (a dark image's patches are close
  together, so its median distance is small).
- ``"absolute"``: the log-hyperparameters themselves, shared by every image; set from the
  heuristic on a first batch by :meth:`LearnedClusteredGP.initialise_from_heuristic`.

The prior mean is the per-output mean of each GP's targets, as in the heuristic. The k x k solve is
float64 with jitter (:func:`lowlight.gp.exact.se_gp_fit`), whatever the input dtype.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace
from typing import Literal

import torch
from torch import Tensor, nn

from lowlight.gp.exact import se_gp_fit
from lowlight.gp.hyperparameters import HeuristicOptions, SEHyperparameters, heuristic_hyperparameters
from lowlight.gp.warm_start import WarmStart
from lowlight.patches import centre_index
from lowlight.pipeline import GPFit, GPOptions, fit_clustered_gp, predict_clustered_gp

Parametrisation = Literal["relative", "absolute"]

#: names of the learned tensors in a shipped checkpoint (``lowlight.checkpoints`` ``extra``)
CHECKPOINT_TENSORS = ("gp.log_lengthscale", "gp.log_signal_variance", "gp.log_noise_variance")
#: metadata keys written beside them
PARAMETRISATION_KEY = "gp.parametrisation"
OPTIONS_KEY = "gp.options"


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
        train_x: (G, k, d_in) float, the GP inputs (low-light halves of the centres).
        train_y: (G, k, d_out) float, the targets (reference halves).
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
    if parametrisation not in ("relative", "absolute"):
        raise ValueError(f"parametrisation must be 'relative' or 'absolute', got {parametrisation!r}")
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


def gp_training_data(centres: Tensor, options: GPOptions) -> tuple[Tensor, Tensor]:
    """Split cluster centres into GP inputs and targets, as :func:`fit_clustered_gp` does.

    Args:
        centres: (G, k, 2 p^2 [+ 2]) float: low patch | reference patch [| coordinates].
        options: the options the centres were made with (``inputs`` picks the GP's input halves).

    Returns:
        ``(train_x (G, k, d_in), train_y (G, k, 1 or p^2))``; d_in = p^2 (``inputs`` ``"low"`` or
        ``"ref"``) or 2 p^2 (``"pair"``), plus 2 with coordinates.
    """
    pq = options.patch**2
    low_half, ref_half, coords = centres[..., :pq], centres[..., pq : 2 * pq], centres[..., 2 * pq :]
    halves = {"low": [low_half], "ref": [ref_half], "pair": [low_half, ref_half]}[options.inputs]
    train_x = torch.cat([*halves, coords], dim=-1)  # coordinates last
    centre = centre_index((options.patch, options.patch))
    train_y = ref_half[..., centre : centre + 1] if options.target == "centre" else ref_half
    return train_x, train_y


class LearnedClusteredGP(nn.Module):
    """Clustered exact GP whose log-hyperparameters are ``nn.Parameter`` s (see the module doc).

    Args:
        n_groups: hyperparameter groups per image: 1, or the channel count with ``per_channel``.
        parametrisation: ``"relative"`` (offsets to the heuristic, start at 0) or ``"absolute"``
            (call :meth:`initialise_from_heuristic` before the first forward).
    """

    initialised: Tensor

    def __init__(self, n_groups: int = 1, parametrisation: Parametrisation = "relative") -> None:
        super().__init__()
        if n_groups < 1:
            raise ValueError(f"n_groups must be >= 1, got {n_groups!r}")
        if parametrisation not in ("relative", "absolute"):
            raise ValueError(f"parametrisation must be 'relative' or 'absolute', got {parametrisation!r}")
        self.n_groups = n_groups
        self.parametrisation = parametrisation
        self.log_lengthscale = nn.Parameter(torch.zeros(n_groups, 1))
        self.log_signal_variance = nn.Parameter(torch.zeros(n_groups))
        self.log_noise_variance = nn.Parameter(torch.zeros(n_groups))
        # a buffer, so that a resumed Lightning checkpoint does not initialise twice
        self.register_buffer("initialised", torch.tensor(parametrisation == "relative"))

    def hyperparameters(self, train_x: Tensor, train_y: Tensor, noise_fraction: float = 0.01) -> SEHyperparameters:
        """:func:`learned_se_hyperparameters` with this module's parameters (batch G = N n_groups)."""
        return learned_se_hyperparameters(
            train_x, train_y, self.log_lengthscale, self.log_signal_variance,
            self.log_noise_variance, self.parametrisation, noise_fraction,
        )

    def fit(self, low: Tensor, ref: Tensor, options: GPOptions, warm: WarmStart | None = None) -> GPFit:
        """Cluster the patch pairs and condition the GPs with the learned hyperparameters.

        Args:
            low: (B, C, H, W) float in [0, 1], low-light image.
            ref: (B, C, H, W) float in [0, 1], the reference.
            options: clustering and GP options; ``options.hyperparameters`` is not used.
            warm: a previous fit to start from (see :func:`lowlight.pipeline.fit_clustered_gp`);
                the learned hyperparameters are blended with its own.

        Returns:
            :class:`lowlight.pipeline.GPFit`, differentiable in ``low``, ``ref`` and the parameters.
        """
        if not bool(self.initialised):
            raise RuntimeError("absolute hyperparameters are not set: call initialise_from_heuristic first")
        # The pipeline's own fit clusters; its heuristic GP on the k centres costs O(k^3) with
        # k <= a few hundred, next to nothing beside the every-pixel prediction.
        clustered = fit_clustered_gp(low, ref, replace(options, hyperparameters="heuristic"), warm=warm)
        if clustered.groups_per_image != self.n_groups:
            raise ValueError(
                f"{self.n_groups} learned hyperparameter group(s), but the options make "
                f"{clustered.groups_per_image} GP(s) per image (per_channel={options.per_channel}, "
                f"{low.shape[1]} channel(s))"
            )
        train_x, train_y = gp_training_data(clustered.centres, options)  # (G, k, d_in), (G, k, d_out)
        hyperparameters = self.hyperparameters(train_x, train_y, options.noise_fraction)
        if warm is not None:
            hyperparameters = warm.blend(hyperparameters)
        return replace(clustered, state=se_gp_fit(train_x, train_y, hyperparameters))

    def forward(
        self, low: Tensor, ref: Tensor, options: GPOptions, return_variance: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Enhance ``low`` from its reference, like :func:`lowlight.pipeline.clustered_gp_enhance`.

        Args:
            low: (B, C, H, W) float in [0, 1].
            ref: (B, C, H, W) float in [0, 1].
            options: :class:`GPOptions` (k, patch, sampling...).
            return_variance: also return the latent posterior variance.

        Returns:
            ``(enhanced (B, C, H, W) in [0, 1], variance (B, C, H, W) >= 0 or None)``.
        """
        fit = self.fit(low, ref, options)
        enhanced, variance = predict_clustered_gp(fit, low, options, return_variance, ref=ref)
        return enhanced.clamp(0.0, 1.0), variance

    @torch.no_grad()
    def initialise_from_heuristic(self, low: Tensor, ref: Tensor, options: GPOptions) -> None:
        """Set the parameters from the heuristic on a batch: per group, the median over its images.

        Relative parameters are reset to 0 (the heuristic itself).

        Args:
            low: (B, C, H, W) float in [0, 1].
            ref: (B, C, H, W) float in [0, 1].
            options: the training options (their k and patch set the heuristic's scale).
        """
        if self.parametrisation == "relative":
            for parameter in (self.log_lengthscale, self.log_signal_variance, self.log_noise_variance):
                parameter.zero_()
        else:
            clustered = fit_clustered_gp(low, ref, replace(options, hyperparameters="heuristic"))
            train_x, train_y = gp_training_data(clustered.centres, options)
            base = heuristic_hyperparameters(train_x, train_y, HeuristicOptions(noise_fraction=options.noise_fraction))
            for parameter, value in zip(
                (self.log_lengthscale, self.log_signal_variance, self.log_noise_variance),
                base.log_parameters(),
                strict=True,
            ):
                per_group = value.reshape(-1, self.n_groups, *value.shape[1:])  # (B, n, ...)
                parameter.copy_(per_group.median(dim=0).values.to(parameter))
        self.initialised.fill_(True)

    def checkpoint_tensors(self) -> dict[str, Tensor]:
        """The learned tensors by their :data:`CHECKPOINT_TENSORS` names (detached, on the CPU)."""
        values = (self.log_lengthscale, self.log_signal_variance, self.log_noise_variance)
        return {name: value.detach().cpu().clone() for name, value in zip(CHECKPOINT_TENSORS, values, strict=True)}

    def checkpoint_metadata(self, options: GPOptions) -> dict[str, str]:
        """Strings to store beside the tensors: the parametrisation and the inference options."""
        return {PARAMETRISATION_KEY: self.parametrisation, OPTIONS_KEY: json.dumps(asdict(options))}

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], metadata: dict[str, str]) -> LearnedClusteredGP | None:
        """Rebuild from a checkpoint's ``extra`` tensors and metadata; ``None`` when it holds none.

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
        layer = cls(n_groups, metadata.get(PARAMETRISATION_KEY, "relative"))  # type: ignore[arg-type]
        with torch.no_grad():
            layer.log_lengthscale.copy_(log_lengthscale)
            layer.log_signal_variance.copy_(log_signal_variance)
            layer.log_noise_variance.copy_(log_noise_variance)
        layer.initialised.fill_(True)
        return layer

    def extra_repr(self) -> str:
        return f"n_groups={self.n_groups}, parametrisation={self.parametrisation!r}"


#: GP options that shape what the learned hyperparameters mean; a checkpoint's values win
STRUCTURAL_OPTIONS = ("patch", "per_channel", "coordinates", "coordinate_weight", "inputs", "target",
                      "noise_fraction")


def stored_gp_options(metadata: dict[str, str]) -> GPOptions | None:
    """The :class:`GPOptions` a checkpoint was trained for (its metadata), or ``None``.

    Fields this version of :class:`GPOptions` does not know are ignored; missing ones default.
    """
    text = metadata.get(OPTIONS_KEY)
    if text is None:
        return None
    known = {f.name for f in fields(GPOptions)}
    return GPOptions(**{k: v for k, v in json.loads(text).items() if k in known})


def options_for_checkpoint(requested: GPOptions, layer: LearnedClusteredGP, metadata: dict[str, str]) -> GPOptions:
    """The GP options to run a learned checkpoint with.

    The :data:`STRUCTURAL_OPTIONS` come from the checkpoint (its hyperparameters were learned for
    that input layout, target and patch; ``per_channel`` also follows its number of groups); the
    rest (k, seed, sampling, chunking) from ``requested``.
    """
    trained = stored_gp_options(metadata)
    structural = {} if trained is None else {name: getattr(trained, name) for name in STRUCTURAL_OPTIONS}
    structural["per_channel"] = layer.n_groups > 1
    return replace(requested, **structural)
