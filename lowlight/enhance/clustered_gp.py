"""The clustered exact GP (paper, section III.B, with the project's defaults) as a batched tensor function.

For each image (or each channel, with per-channel GPs): patch pairs (low-light patch, reference
patch) are sampled, clustered by k-means++ into k centres, and the centres train an exact SE GP.
By default (``GPOptions.inputs="pair"``, ``target="patch"``) the GP regresses the whole reference
patch from the whole pair, and the overlapping patch predictions are averaged back; the paper's
set-up is ``inputs="low"``, ``target="centre"`` (low-light patch in, centre pixel out).

The hyperparameters are the per-image heuristic
(:func:`lowlight.gp.hyperparameters.heuristic_hyperparameters`), or learned ones
(:class:`lowlight.gp.learnable.LearnedHyperparameters`, from an end-to-end checkpoint): one path,
:func:`fit_clustered_gp`, serves both.

Gradients flow from the output to ``low``, ``ref`` and the learned hyperparameters: cluster
assignments are taken without gradient, and the centres are recomputed as differentiable means
of their members (:func:`lowlight.cluster.kmeans.cluster_means`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lowlight.ops.checks import check_image
from lowlight.gp.exact import ExactGPState, se_gp_condition
from lowlight.gp.hyperparameters import HeuristicOptions, heuristic_hyperparameters
from lowlight.gp.learnable import LearnedHyperparameters
from lowlight.gp.warm_start import WarmStart
from lowlight.cluster.kmeans import cluster_means, kmeans
from lowlight.enhance.dense_prediction import PatchLayout, predict_dense
from lowlight.ops.patches import centre_index, gather_patches


#: default queries per prediction strip (``GPOptions.chunk_pixels``)
CPU_STRIP_QUERIES = 1 << 16
GPU_STRIP_QUERIES = 1 << 22


@dataclass
class GPOptions:
    """Options of the clustered GP head.

    Attributes:
        k: cluster centres, i.e. GP training points.
        patch: p (= q): side of the square patch around each pixel.
        per_channel: one GP per channel (batched) instead of the paper's single GP shared by all
            channels of an image; only matters with several channels.
        coordinates: add the pixel's normalised (row, column) in [0, 1] as two more inputs
            (to clustering and GP), scaled by ``coordinate_weight``, so that the enhancement can
            vary across the image.
        coordinate_weight: scale of the coordinates relative to intensities.
        inputs: what the GP regresses from: ``"low"``, the low-light patch (the paper);
            ``"pair"``, the whole clustered point (low-light patch and reference patch), so that
            the prediction follows the reference's spatially varying enhancement while the GP
            averages similar patches (denoising); ``"ref"``, the reference patch alone.
        target: ``"centre"``: the GP predicts the reference's centre pixel; ``"patch"``: the whole
            reference patch, and the overlapping patch predictions are averaged back.
        cluster_points: (channel, pixel) samples drawn for clustering per GP (``None``: all).
        kmeans_max_iter: Lloyd iterations at most.
        noise_fraction: GP noise variance as a fraction of the signal variance (heuristic).
        chunk_pixels: (channel, pixel) queries per strip of the prediction (bounds memory);
            ``None``: 2^16 on a CPU (cache-sized), 2^22 on a GPU (fewer kernel launches).
        seed: seed of the sampling and k-means++ (each image draws from its own generator seeded
            with it, so a batch equals its images enhanced one by one).
    """

    k: int = 30
    patch: int = 3
    per_channel: bool = False
    coordinates: bool = False
    coordinate_weight: float = 0.5
    inputs: Literal["low", "pair", "ref"] = "pair"
    target: Literal["centre", "patch"] = "patch"
    cluster_points: int | None = 4096
    kmeans_max_iter: int = 10
    noise_fraction: float = 0.01
    chunk_pixels: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.patch < 1:
            raise ValueError(f"patch must be >= 1, got {self.patch}")
        if self.inputs not in ("low", "pair", "ref"):
            raise ValueError(f"inputs must be 'low', 'pair' or 'ref', got {self.inputs!r}")
        if self.target not in ("centre", "patch"):
            raise ValueError(f"target must be 'centre' or 'patch', got {self.target!r}")
        if self.cluster_points is not None and self.cluster_points < 1:
            raise ValueError(f"cluster_points must be >= 1 or None, got {self.cluster_points}")
        if self.chunk_pixels is not None and self.chunk_pixels < 1:
            raise ValueError(f"chunk_pixels must be >= 1 or None, got {self.chunk_pixels}")


@dataclass
class GPFit:
    """A fitted clustered GP per group (image, or image channel): what prediction needs."""

    state: ExactGPState
    centres: Tensor  #: (G, k, D) cluster centres (low patch | reference patch | coordinates)
    groups_per_image: int  #: G / B
    channels_per_group: int


def _grouped(x: Tensor, per_channel: bool) -> Tensor:
    """(B, C, H, W) -> (G, c, H, W): one group per image, or per image channel."""
    b, c, h, w = x.shape
    return x.reshape(b * c, 1, h, w) if per_channel else x


def _coordinates(rows: Tensor, cols: Tensor, h: int, w: int, weight: float) -> Tensor:
    """Normalised pixel coordinates (..., 2) in [0, weight]."""
    scale_r = 1.0 / max(h - 1, 1)
    scale_c = 1.0 / max(w - 1, 1)
    return torch.stack([rows * scale_r, cols * scale_c], dim=-1) * weight


def sample_cluster_points(
    low: Tensor, ref: Tensor, options: GPOptions, generators: list[torch.Generator]
) -> Tensor:
    """Patch-pair points for clustering, one row per sampled (channel, pixel).

    Args:
        low: (G, c, H, W) float, low-light groups.
        ref: (G, c, H, W) float, reference groups.
        options: :class:`GPOptions`.
        generators: one generator per group.

    Returns:
        (G, n, 2 p^2 [+ 2]) float: low-light patch, reference patch, then the coordinates.
    """
    g, c, h, w = low.shape
    size = (options.patch, options.patch)
    total = c * h * w
    n = total if options.cluster_points is None else min(options.cluster_points, total)
    if n == total:
        flat = torch.arange(total, device=low.device).expand(g, total)  # (G, n)
    else:
        flat = torch.stack(
            [torch.randperm(total, generator=gen, device="cpu")[:n] for gen in generators]
        ).to(low.device)  # (G, n): indices into channel-major (c, H, W)
    channel, pixel = flat // (h * w), flat % (h * w)
    both = torch.cat([low, ref], dim=1)  # (G, 2c, H, W)
    patches = gather_patches(both, pixel, size)  # (G, 2c, n, pq)
    idx = channel[:, None, :, None].expand(g, 1, n, patches.shape[-1])
    low_p = patches[:, :c].gather(1, idx).squeeze(1)  # (G, n, pq)
    ref_p = patches[:, c:].gather(1, idx).squeeze(1)  # (G, n, pq)
    parts = [low_p, ref_p]
    if options.coordinates:
        parts.append(_coordinates((pixel // w).to(low.dtype), (pixel % w).to(low.dtype), h, w,
                                  options.coordinate_weight))
    return torch.cat(parts, dim=-1)


def fit_clustered_gp(low: Tensor, ref: Tensor, options: GPOptions,
                     learned: LearnedHyperparameters | None = None,
                     warm: WarmStart | None = None) -> GPFit:
    """Cluster patch pairs and condition the GP on the centres (the O(k^3) training).

    Args:
        low: (B, C, H, W) float in [0, 1], low-light image (C = 1 for luma, 3 for RGB).
        ref: (B, C, H, W) float in [0, 1], the reference CNN's output.
        options: :class:`GPOptions`.
        learned: learned hyperparameters (one group per GP of an image); ``None``: the per-image
            heuristic.
        warm: a previous fit to start from (video): its centres seed the k-means (a few Lloyd
            iterations, no k-means++) when their shape fits, and the hyperparameters (heuristic
            or learned) are blended with its own.

    Returns:
        :class:`GPFit`, differentiable in ``low``, ``ref`` and ``learned``'s parameters.

    Raises:
        ValueError: ``ref`` does not match ``low``, or ``learned`` has another number of groups
            than the options make GPs per image.
    """
    check_image(low, name="low")
    if ref.shape != low.shape:
        raise ValueError(f"ref {tuple(ref.shape)} does not match low {tuple(low.shape)}")
    groups_low = _grouped(low, options.per_channel)  # (G, c, H, W)
    groups_ref = _grouped(ref, options.per_channel)
    g, c = groups_low.shape[:2]
    per_image = g // low.shape[0]
    if learned is not None and learned.n_groups != per_image:
        raise ValueError(
            f"{learned.n_groups} learned hyperparameter group(s), but the options make {per_image} "
            f"GP(s) per image (per_channel={options.per_channel}, {low.shape[1]} channel(s))"
        )
    generators = [torch.Generator().manual_seed(options.seed + i % per_image) for i in range(g)]
    points = sample_cluster_points(groups_low, groups_ref, options, generators)  # (G, n, D)
    k = min(options.k, points.shape[1])
    init = None if warm is None else warm.init_centres(g, k, points.shape[2])  # (G, k, D) or None
    max_iter = options.kmeans_max_iter if warm is None or init is None else warm.lloyd_iterations
    with torch.no_grad():  # one call per group: each draws from its own generator
        labels = torch.cat([
            kmeans(points[i : i + 1].detach(), k, generator=gen, max_iter=max_iter,
                   init=None if init is None else init[i : i + 1]).labels
            for i, gen in enumerate(generators)
        ])  # (G, n)
    centres = cluster_means(points, labels, k)  # (G, k, D), differentiable
    train_x, train_y = gp_training_data(centres, options)  # (G, k, d_in), (G, k, d_out)
    if learned is None:
        hyperparameters = heuristic_hyperparameters(
            train_x.detach(), train_y.detach(), HeuristicOptions(noise_fraction=options.noise_fraction)
        )
    else:
        hyperparameters = learned(train_x, train_y, options.noise_fraction)
    if warm is not None:
        hyperparameters = warm.blend(hyperparameters)
    return GPFit(se_gp_condition(train_x, train_y, hyperparameters), centres, per_image, c)


#: the GP's input halves for each ``GPOptions.inputs``, from (low-light, reference) tensors
_SOURCES = {
    "low": lambda low, ref: [low],
    "ref": lambda low, ref: [ref],
    "pair": lambda low, ref: [low, ref],
}


def gp_training_data(centres: Tensor, options: GPOptions) -> tuple[Tensor, Tensor]:
    """Split cluster centres into GP inputs and targets.

    Args:
        centres: (G, k, 2 p^2 [+ 2]) float: low patch | reference patch [| coordinates].
        options: the options the centres were made with (``inputs`` picks the GP's input halves,
            ``target`` the outputs).

    Returns:
        ``(train_x (G, k, d_in), train_y (G, k, 1 or p^2))``; d_in = p^2 (``inputs`` ``"low"`` or
        ``"ref"``) or 2 p^2 (``"pair"``), plus 2 with coordinates (last).
    """
    pq = options.patch**2
    low_half, ref_half, coords = centres[..., :pq], centres[..., pq : 2 * pq], centres[..., 2 * pq :]
    train_x = torch.cat([*_SOURCES[options.inputs](low_half, ref_half), coords], dim=-1)
    centre = centre_index((options.patch, options.patch))
    train_y = ref_half[..., centre : centre + 1] if options.target == "centre" else ref_half
    return train_x, train_y


@torch.no_grad()
def initialise_from_heuristic(learned: LearnedHyperparameters, low: Tensor, ref: Tensor,
                              options: GPOptions) -> None:
    """Set absolute learned hyperparameters to the per-group median of the heuristic on a batch
    (relative ones are reset to 0, the heuristic itself).

    Args:
        learned: the parameters to set.
        low: (B, C, H, W) float in [0, 1].
        ref: (B, C, H, W) float in [0, 1].
        options: the training options (their k and patch set the heuristic's scale).
    """
    learned.initialise(fit_clustered_gp(low, ref, options).state.hyperparameters)


def predict_clustered_gp(
    fit: GPFit, low: Tensor, options: GPOptions, return_variance: bool = False,
    ref: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Predict every pixel from its patch (see ``GPOptions.inputs``), strip by strip.

    The images may be larger than the ones the GP was fitted on (a working-resolution fit,
    :class:`lowlight.enhance.enhancer.Enhancer`): the GP is asked about every pixel of these.
    Computed as convolutions (:mod:`lowlight.enhance.dense_prediction`); memory is bounded by
    image-sized buffers plus one strip of k correlation maps.

    Args:
        fit: from :func:`fit_clustered_gp` (same options, same batch and channel count).
        low: (B, C, H, W) float in [0, 1].
        options: the options the fit used.
        return_variance: also return the GP's posterior variance per pixel.
        ref: (B, C, H, W) the reference, needed when ``options.inputs`` is ``"pair"`` or ``"ref"``.

    Returns:
        ``(enhanced, variance)``: (B, C, H, W) in the dtype of ``low`` (not clamped), and the
        latent posterior variance (B, C, H, W) or ``None``.
    """
    check_image(low, name="low")
    b, cc, h, w = low.shape
    if options.inputs != "low" and (ref is None or ref.shape != low.shape):
        got = None if ref is None else tuple(ref.shape)
        raise ValueError(f"inputs={options.inputs!r} needs ref of shape {tuple(low.shape)}, got {got}")
    groups = _grouped(low, options.per_channel)  # (G, c, H, W)
    if groups.shape[0] != fit.centres.shape[0] or groups.shape[1] != fit.channels_per_group:
        raise ValueError(f"the fit holds {fit.centres.shape[0]} GP(s) of {fit.channels_per_group} channel(s); "
                         f"low {tuple(low.shape)} makes {groups.shape[0]} of {groups.shape[1]}")
    ref_groups = _grouped(ref, options.per_channel) if ref is not None else groups
    layout = PatchLayout(
        patch=options.patch, halves=2 if options.inputs == "pair" else 1, coordinates=options.coordinates,
        coordinate_weight=options.coordinate_weight, patch_target=options.target == "patch",
    )
    chunk = options.chunk_pixels
    if chunk is None:
        chunk = CPU_STRIP_QUERIES if low.device.type == "cpu" else GPU_STRIP_QUERIES
    mean, variance = predict_dense(fit.state, _SOURCES[options.inputs](groups, ref_groups), layout,
                                   return_variance, chunk)
    return mean.reshape(b, cc, h, w), (None if variance is None else variance.reshape(b, cc, h, w))


def clustered_gp_enhance(
    low: Tensor, ref: Tensor, options: GPOptions, return_variance: bool = False,
    learned: LearnedHyperparameters | None = None,
) -> tuple[Tensor, Tensor | None]:
    """:func:`fit_clustered_gp` then :func:`predict_clustered_gp`, output clamped to [0, 1].

    Args:
        low: (B, C, H, W) float in [0, 1].
        ref: (B, C, H, W) float in [0, 1].
        options: :class:`GPOptions`.
        return_variance: also return the posterior variance (B, C, H, W).
        learned: learned hyperparameters, ``None`` for the heuristic (see :func:`fit_clustered_gp`).

    Returns:
        ``(enhanced (B, C, H, W) in [0, 1], variance (B, C, H, W) >= 0 or None)``.
    """
    fit = fit_clustered_gp(low, ref, options, learned)
    enhanced, variance = predict_clustered_gp(fit, low, options, return_variance, ref)
    return enhanced.clamp(0.0, 1.0), variance
