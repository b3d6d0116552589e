"""PSNR, SSIM (torchmetrics, per image) and the protocol's timing rule.

PSNR: RGB, data range 1, per image. SSIM: RGB, Gaussian window 11, sigma 1.5, k1 0.01, k2 0.03,
data range 1. E is clamped to [0, 1] (not quantised). PSNR is computed in float64; SSIM in float32,
because torchmetrics' 11 x 11 float64 convolution is ~12x slower on the CPU (the float32 result
agrees with float64 to ~1e-5 on protocol images; an image compared with itself may score
1 - 3e-5). torchmetrics averages the whole SSIM map, its border
mirrored, where skimage leaves out a 5-pixel border: the two differ by ~5e-5 at 256 x 256.
Time: wall-clock of one call on one image, one warm-up call, median of ``calls`` calls, with the
torch thread count reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from lowlight.ops.checks import check_image, check_positive

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(enhanced: Tensor, truth: Tensor) -> None:
    check_image(enhanced, 3, "enhanced")
    check_image(truth, 3, "truth")
    if enhanced.shape != truth.shape:
        raise ValueError(
            f"enhanced {tuple(enhanced.shape)} and truth {tuple(truth.shape)} differ in shape"
        )


def psnr_per_image(enhanced: Tensor, truth: Tensor) -> Tensor:
    """PSNR of each image (RGB, data range 1); ``inf`` where E equals G.

    Args:
        enhanced: (B, 3, H, W) float in [0, 1] (clamped).
        truth: (B, 3, H, W) float in [0, 1].

    Returns:
        (B,) float64, dB.
    """
    _check_pair(enhanced, truth)
    return peak_signal_noise_ratio(
        enhanced.detach().double().clamp(0.0, 1.0),
        truth.detach().double(),
        data_range=1.0,
        reduction="none",
        dim=(1, 2, 3),
    )


def ssim_per_image(enhanced: Tensor, truth: Tensor) -> Tensor:
    """SSIM of each image (RGB, Gaussian window 11, sigma 1.5, k1 0.01, k2 0.03, data range 1).

    Args:
        enhanced: (B, 3, H, W) float in [0, 1] (clamped); H, W >= 11.
        truth: (B, 3, H, W) float in [0, 1].

    Returns:
        (B,) float64 in [-1, 1] (computed in float32).
    """
    _check_pair(enhanced, truth)
    ssim = structural_similarity_index_measure(
        enhanced.detach().float().clamp(0.0, 1.0),
        truth.detach().float(),
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_WINDOW,
        reduction="none",
        data_range=1.0,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )
    return ssim.double()


@dataclass(frozen=True)
class TimeStats:
    """Wall-clock time of one enhancement call.

    Attributes:
        median_s: median over ``calls`` timed calls, seconds.
        calls: number of timed calls (after one warm-up call).
        threads: ``torch.get_num_threads()`` during the measurement.
    """

    median_s: float
    calls: int
    threads: int


def measure_time(function: Callable[[], object], calls: int = 20) -> TimeStats:
    """Time ``function()``: one warm-up call, then the median of ``calls`` calls.

    The function should enhance one 256 x 256 image (batch of one), with decoding and writing
    left out, as the protocol asks.
    """
    check_positive(calls, "calls")
    function()  # warm-up: lazy initialisation, caches, allocator
    durations = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        durations.append(time.perf_counter() - start)
    return TimeStats(statistics.median(durations), calls, torch.get_num_threads())
