"""Resizing images: the antialiased bilinear resize and the working size of a large image."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.checks import check_image


def long_side_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is ``long_side``, the aspect kept.

    Args:
        height, width: the image's size, >= 1.
        long_side: the target longer side; 0, or not smaller than the image's, keeps its size
            (images are never enlarged).

    Returns:
        (h, w), each >= 1.
    """
    if long_side < 0:
        raise ValueError(f"long_side must be >= 0, got {long_side!r}")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be >= 1 x 1, got {height} x {width}")
    longer = max(height, width)
    if long_side == 0 or long_side >= longer:
        return height, width
    scale = long_side / longer
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_image(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize, antialiased (area-like) when shrinking, clamped back to [0, 1].

    Enlarging uses the plain bilinear kernel, which is what the antialiased one reduces to there
    (up to rounding).

    Args:
        x: (B, C, H, W) float in [0, 1].
        size: (h, w) target size.

    Returns:
        (B, C, h, w) float in [0, 1], same dtype; ``x`` itself when the size is unchanged.
    """
    check_image(x, name="x")
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    out = F.interpolate(x, size=size, mode="bilinear", antialias=shrinking, align_corners=False)
    return out.clamp_(0.0, 1.0)  # in place: a large image's resize holds one output buffer
