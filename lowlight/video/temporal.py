"""Temporally stable enhancement: state carried from frame to frame, reset at scene cuts.

Per frame, with strength ``s`` (0 < s < 1):

- the reference CNN's curves (CurveNet's coarse coefficient grid, 6 x 8 x 8 numbers) follow an
  exponential moving average ``c_t = s c_{t-1} + (1 - s) c(frame_t)``, so the exposure estimate
  no longer jumps with each frame's noise;
- the k-means starts from the previous frame's centres and runs ``lloyd_iterations`` Lloyd
  iterations instead of k-means++ seeding (same pixel sample positions every frame);
- the GP hyperparameters follow the same moving average in log space
  (:class:`lowlight.gp.warm_start.WarmStart`).

A scene cut (:mod:`lowlight.video.scene_cut`: the log-luma histogram distance between
consecutive frames above ``scene_cut``) drops the state. ``strength = 0`` is the per-frame
enhancement, exactly :class:`lowlight.enhance.enhancer.Enhancer` on each frame. Frames come in batches:
the CNN and the GP's per-pixel prediction run on the whole batch, the cheap sequential parts
(moving averages, k-means on 4096 points, the k x k GP fit) frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from lowlight.archs.curve_net import CurveNet
from lowlight.ops.checks import check_image
from lowlight.enhance.enhancer import Enhancer
from lowlight.gp.exact import ExactGPState
from lowlight.gp.hyperparameters import SEHyperparameters
from lowlight.gp.warm_start import WarmStart
from lowlight.enhance.clustered_gp import GPFit
from lowlight.video.scene_cut import histogram_distance, log_luma_histograms

#: the default strength: the weight of the past in every moving average (README, video section)
DEFAULT_STRENGTH = 0.8


@dataclass
class TemporalOptions:
    """How much of the previous frames each frame keeps.

    Attributes:
        strength: weight in [0, 1) of the carried state in the moving averages; 0 = per-frame
            enhancement. 0.8 averages over about 5 frames (1 / (1 - s)).
        lloyd_iterations: Lloyd iterations from the previous centres (>= 1).
        scene_cut: log-luma histogram distance in (0, 1] above which the state is reset.
        histogram_bins: bins of the scene-cut histograms.
    """

    strength: float = DEFAULT_STRENGTH
    lloyd_iterations: int = 3
    scene_cut: float = 0.3
    histogram_bins: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.strength < 1:
            raise ValueError(f"temporal strength must be in [0, 1), got {self.strength!r}")
        if self.lloyd_iterations < 1:
            raise ValueError(f"lloyd_iterations must be >= 1, got {self.lloyd_iterations!r}")
        if not 0 < self.scene_cut <= 1:
            raise ValueError(f"scene_cut must be in (0, 1], got {self.scene_cut!r}")


@dataclass
class _State:
    histogram: Tensor | None = None  #: (bins,) of the last frame seen
    coefficients: Tensor | None = None  #: (1, 6, g, g) smoothed CurveNet grid
    warm: WarmStart | None = None
    frames: int = 0
    cuts: list[int] = field(default_factory=list)


class VideoEnhancer:
    """Enhances the frames of one clip in order (see the module docstring).

    Args:
        enhancer: the image enhancer (its CNN, GP options and gates are used as they are).
        options: :class:`TemporalOptions`.
    """

    def __init__(self, enhancer: Enhancer, options: TemporalOptions | None = None) -> None:
        self.enhancer = enhancer
        self.options = options or TemporalOptions()
        self._state = _State()

    @property
    def cuts(self) -> list[int]:
        """Indices (0-based, in the clip) of the frames that started a new scene, 0 included."""
        return list(self._state.cuts)

    def reset(self) -> None:
        """Forget everything (a new clip)."""
        self._state = _State()

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> Tensor:
        """Enhance the next frames of the clip.

        Args:
            frames: (B, 3, H, W) float in [0, 1], RGB, consecutive, on the enhancer's device.

        Returns:
            (B, 3, H, W) float in [0, 1].
        """
        check_image(frames, 3, "frames")
        cut = self._scene_cuts(frames)
        if self.options.strength == 0:
            return self.enhancer(frames).image
        small = self.enhancer.working_copy(frames)
        ref = self._reference(small, cut)
        fit = self._fit(small, ref, cut) if self.enhancer.config.use_gp else None
        return self.enhancer(frames, reference=ref, gp_fit=fit).image

    def _scene_cuts(self, frames: Tensor) -> list[bool]:
        """Whether each frame starts a new scene; updates the last histogram and the cut list."""
        histograms = log_luma_histograms(frames, self.options.histogram_bins)  # (B, bins)
        cut = []
        for t in range(frames.shape[0]):
            previous = self._state.histogram if t == 0 else histograms[t - 1]
            is_cut = previous is None or previous.shape != histograms[t].shape or \
                float(histogram_distance(previous, histograms[t])) > self.options.scene_cut
            if is_cut:
                self._state.cuts.append(self._state.frames + t)
            cut.append(is_cut)
        self._state.histogram = histograms[-1]
        self._state.frames += frames.shape[0]
        return cut

    def _reference(self, frames: Tensor, cut: list[bool]) -> Tensor:
        """The CNN's reference (B, C, H, W) in [0, 1], from smoothed curves where the CNN has them."""
        net = self.enhancer.net
        if self.enhancer.config.mode != "cm" or not isinstance(net, CurveNet):
            return self.enhancer.reference(frames).clamp(0.0, 1.0)  # a local CNN: nothing to carry
        grid = net.coefficient_grid(frames)  # (B, 6, g, g)
        s = self.options.strength
        smoothed = []
        for t in range(frames.shape[0]):
            current = grid[t : t + 1]
            previous = self._state.coefficients
            if not cut[t] and previous is not None and previous.shape == current.shape:
                current = s * previous + (1 - s) * current
            self._state.coefficients = current
            smoothed.append(current)
        return net(frames, coefficients=torch.cat(smoothed)).clamp(0.0, 1.0)

    def _fit(self, frames: Tensor, ref: Tensor, cut: list[bool]) -> GPFit:
        """One GP fit per frame, each warm-started from the one before (unless a cut)."""
        fits = []
        for t in range(frames.shape[0]):
            warm = None if cut[t] else self._state.warm
            fit = self.enhancer.fit_gp(frames[t : t + 1], ref[t : t + 1], warm)
            self._state.warm = WarmStart(fit.centres.detach(), fit.state.hyperparameters.detach(),
                                         self.options.strength, self.options.lloyd_iterations)
            fits.append(fit)
        return concatenate_fits(fits)


def concatenate_fits(fits: list[GPFit]) -> GPFit:
    """GP fits of single batches joined into one batch (same options, same k), for one prediction.

    Args:
        fits: :class:`GPFit` s of batches B_1, ..., B_n.

    Returns:
        One :class:`GPFit` of batch B_1 + ... + B_n, in order.
    """
    if not fits:
        raise ValueError("concatenate_fits needs at least one fit")
    if len(fits) == 1:
        return fits[0]
    states = [f.state for f in fits]
    hyperparameters = SEHyperparameters(*(torch.cat(parts) for parts in
                                          zip(*(s.hyperparameters.tensors() for s in states), strict=True)))
    state = ExactGPState(
        train_x=torch.cat([s.train_x for s in states]), hyperparameters=hyperparameters,
        cholesky=torch.cat([s.cholesky for s in states]), alpha=torch.cat([s.alpha for s in states]),
        jitter=torch.cat([s.jitter for s in states]),
    )
    return GPFit(state, torch.cat([f.centres for f in fits]), fits[0].groups_per_image, fits[0].channels_per_group)
