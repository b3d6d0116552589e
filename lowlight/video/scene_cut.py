"""Scene-cut detection: the distance between consecutive frames' log-luma histograms.

Dark frames crowd into the first few of a linear histogram's bins, so the histogram is taken over
``log(luma + 1/255)``, mapped to [0, 1]; a 64 x 64 area-downsampled thumbnail keeps sensor noise
out of it. The distance is the total variation ``0.5 * sum |p - q|`` in [0, 1]: 0 for equal
histograms, 1 for disjoint ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.checks import check_image
from lowlight.ops.color import rgb_to_luma

_EPS = 1.0 / 255
THUMBNAIL = 64


def log_luma_histograms(frames: Tensor, bins: int = 32) -> Tensor:
    """Normalised histograms of each frame's log luma.

    Args:
        frames: (B, 3, H, W) float in [0, 1], RGB.
        bins: histogram bins over [0, 1] (``log(eps) .. log(1 + eps)`` rescaled), >= 2.

    Returns:
        (B, bins) float32, each row summing to 1.
    """
    check_image(frames, 3, "frames")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins!r}")
    luma = rgb_to_luma(frames.float())  # (B, 1, H, W)
    thumb = F.adaptive_avg_pool2d(luma, (min(THUMBNAIL, luma.shape[-2]), min(THUMBNAIL, luma.shape[-1])))
    scaled = (torch.log(thumb.clamp(0, 1) + _EPS) - math.log(_EPS)) / (math.log(1 + _EPS) - math.log(_EPS))
    index = (scaled.flatten(1) * bins).long().clamp(0, bins - 1)  # (B, n)
    counts = torch.zeros(frames.shape[0], bins, device=frames.device).scatter_add_(
        1, index, torch.ones_like(index, dtype=torch.float32))
    return counts / counts.sum(dim=1, keepdim=True)


def histogram_distance(p: Tensor, q: Tensor) -> Tensor:
    """Total-variation distance ``0.5 * sum |p - q|`` of (..., bins) histograms -> (...) in [0, 1]."""
    if p.shape != q.shape:
        raise ValueError(f"histograms {tuple(p.shape)} and {tuple(q.shape)} differ in shape")
    return 0.5 * (p - q).abs().sum(dim=-1)
