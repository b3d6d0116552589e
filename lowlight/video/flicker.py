"""Flicker of a clip: how much the brightness jumps from frame to frame, measured while streaming.

Two numbers, from BT.601 luma:

- ``mean_luma``: the standard deviation over time of the frame-to-frame change of the frame's mean
  luma, ``std_t(m_{t+1} - m_t)``. A steady pan or fade changes ``m`` at a steady pace and scores
  near 0; an exposure that jumps with each frame's noise scores high.
- ``lowpass``: the same for a low-pass luma map (the mean luma of each cell of a coarse grid,
  ``rows`` high, square cells), ``sqrt(mean over cells of var_t(L_{t+1} - L_t))``: local
  brightness jumps that a global mean averages away. The cells are large (40 pixels at 360
  rows) so that the motion of a pan barely moves content across them.

Steps into the first frame of a new scene (a cut) can be left out: flicker is within a shot.

Compare an output's figures with those of the bright original of the same clip (the ratio is what
the README reports): 1.0 means no more flicker than the scene itself has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.checks import check_image
from lowlight.ops.color import rgb_to_luma


@dataclass(frozen=True)
class FlickerStats:
    """Flicker of one clip (see the module docstring); luma units in [0, 1].

    Attributes:
        mean_luma: ``std_t`` of the frame-to-frame change of mean luma.
        lowpass: RMS over cells of ``std_t`` of the change of the low-pass luma map.
        frames: frames measured.
    """

    mean_luma: float
    lowpass: float
    frames: int


class FlickerMeter:
    """Accumulates a clip's flicker batch by batch (memory: a few low-pass maps).

    Args:
        rows: rows of the low-pass grid (its columns follow the frame's aspect).
    """

    def __init__(self, rows: int = 9) -> None:
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows!r}")
        self.rows = rows
        self._previous: tuple[float, Tensor] | None = None
        self._mean_steps: list[float] = []
        self._sum: Tensor | None = None  # per cell: sum of steps, sum of squared steps
        self._sum_sq: Tensor | None = None
        self._frames = 0

    def update(self, frames: Tensor, new_scene: list[bool] | None = None) -> None:
        """Add the next frames of the clip.

        Args:
            frames: (B, 3, H, W) float in [0, 1], RGB, all one size.
            new_scene: B flags; a frame flagged True starts a new shot and its step is not counted.
        """
        check_image(frames, 3, "frames")
        luma = rgb_to_luma(frames.detach().double())  # (B, 1, H, W)
        h, w = luma.shape[-2:]
        grid = (min(self.rows, h), min(w, max(1, round(self.rows * w / h))))
        maps = F.adaptive_avg_pool2d(luma, grid)[:, 0]  # (B, rows, columns)
        means = luma.mean(dim=(1, 2, 3))  # (B,)
        flags = new_scene if new_scene is not None else [False] * frames.shape[0]
        if len(flags) != frames.shape[0]:
            raise ValueError(f"{frames.shape[0]} frames but {len(flags)} new_scene flags")
        for mean, low, cut in zip(means.tolist(), maps, flags, strict=True):
            if self._previous is not None and not cut:
                previous_mean, previous_map = self._previous
                if previous_map.shape != low.shape:
                    raise ValueError(f"frame size changed: low-pass map {tuple(previous_map.shape)} -> {tuple(low.shape)}")
                step = low - previous_map
                self._mean_steps.append(mean - previous_mean)
                self._sum = step if self._sum is None else self._sum + step
                self._sum_sq = step**2 if self._sum_sq is None else self._sum_sq + step**2
            self._previous = (mean, low)
            self._frames += 1

    def result(self) -> FlickerStats:
        """The flicker so far; needs at least two frames."""
        steps = len(self._mean_steps)
        if steps == 0 or self._sum is None or self._sum_sq is None:
            raise ValueError(f"flicker needs at least 2 frames, got {self._frames}")
        mean_luma = float(torch.tensor(self._mean_steps, dtype=torch.float64).std(correction=0))
        variance = (self._sum_sq / steps - (self._sum / steps) ** 2).clamp_min(0)  # per cell
        return FlickerStats(mean_luma, math.sqrt(float(variance.mean())), self._frames)


def clip_flicker(frames: Tensor, rows: int = 9, cuts: list[int] | None = None) -> FlickerStats:
    """:class:`FlickerMeter` on a whole clip held in memory.

    Args:
        frames: (T, 3, H, W) float in [0, 1], T >= 2.
        rows: rows of the low-pass grid.
        cuts: indices of frames that start a new shot (their incoming step is left out).
    """
    meter = FlickerMeter(rows)
    starts = set(cuts or [])
    meter.update(frames, [t in starts for t in range(frames.shape[0])])
    return meter.result()
