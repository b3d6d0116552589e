"""Colour conversions used across the project.

Luma convention: ``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, full range, in [0, 1]), the
Y of :func:`kornia.color.rgb_to_ycbcr`. It equals MATLAB's studio-range ``rgb2ycbcr`` luma
rescaled as ``(Y - 16) / 219``, which is what GPE's reference CNN was trained on (NOTES.md).
"""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

from lowlight.ops.checks import check_image


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """RGB to YCbCr (BT.601 full range, chroma offset 0.5).

    Args:
        rgb: (B, 3, H, W) float in [0, 1].

    Returns:
        (B, 3, H, W) float: Y in [0, 1], Cb and Cr in [0, 1] (0.5 is neutral).
    """
    check_image(rgb, 3, "rgb")
    return kornia.color.rgb_to_ycbcr(rgb)


def ycbcr_to_rgb(ycbcr: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr`, clamped to [0, 1].

    Args:
        ycbcr: (B, 3, H, W) float, Y in [0, 1], Cb/Cr around 0.5.

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(ycbcr, 3, "ycbcr")
    return kornia.color.ycbcr_to_rgb(ycbcr).clamp(0.0, 1.0)


def rgb_to_luma(rgb: Tensor) -> Tensor:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B``.

    Args:
        rgb: (B, 3, H, W) float in [0, 1].

    Returns:
        (B, 1, H, W) float in [0, 1].
    """
    check_image(rgb, 3, "rgb")
    r, g, b = rgb.unbind(dim=1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def replace_luma(rgb: Tensor, luma: Tensor) -> Tensor:
    """Swap the Y channel of ``rgb`` for ``luma`` and keep its chroma (the LM colour carry-over).

    Args:
        rgb: (B, 3, H, W) float in [0, 1], the image whose Cb/Cr are kept.
        luma: (B, 1, H, W) float in [0, 1], the new Y.

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(luma, 1, "luma")
    ycbcr = rgb_to_ycbcr(rgb)  # (B, 3, H, W)
    if luma.shape[-2:] != ycbcr.shape[-2:] or luma.shape[0] != ycbcr.shape[0]:
        raise ValueError(f"luma {tuple(luma.shape)} does not match rgb {tuple(rgb.shape)}")
    return ycbcr_to_rgb(torch.cat([luma, ycbcr[:, 1:]], dim=1))
