"""p x q patches around every pixel (reflect-padded), as flat vectors: the GP's inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.checks import check_image


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    p, q = size
    if p < 1 or q < 1:
        raise ValueError(f"patch size must be >= 1 x 1, got {p} x {q}")
    return p, q


def pad_for_patches(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Pad so that a p x q window fits around every pixel.

    The window of pixel (i, j) spans rows ``i - (p - 1) // 2 .. i + p // 2`` (centred for odd
    sizes). Reflection needs the image to be larger than the padding; smaller images (1 x 1) are
    padded by replication.

    Args:
        x: (B, C, H, W) float.
        size: (p, q) patch height and width.

    Returns:
        (B, C, H + p - 1, W + q - 1), same dtype.
    """
    p, q = _check_size(size)
    pads = ((q - 1) // 2, q // 2, (p - 1) // 2, p // 2)  # left, right, top, bottom
    if max(pads) == 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > max(pads) else "replicate"
    return F.pad(x, pads, mode=mode)


def extract_patches(x: Tensor, size: tuple[int, int] = (3, 3)) -> Tensor:
    """The p x q patch around every pixel, per channel.

    Args:
        x: (B, C, H, W) float.
        size: (p, q).

    Returns:
        (B, C, H * W, p * q), same dtype; pixel n = i * W + j; within a patch, row-major order,
        so the centre pixel is at index ``((p - 1) // 2) * q + (q - 1) // 2``.
    """
    check_image(x)
    p, q = _check_size(size)
    b, c, h, w = x.shape
    cols = F.unfold(pad_for_patches(x, (p, q)), kernel_size=(p, q))  # (B, C * p * q, H * W)
    return cols.view(b, c, p * q, h * w).transpose(2, 3)  # (B, C, H * W, p * q)


def gather_patches(x: Tensor, index: Tensor, size: tuple[int, int] = (3, 3)) -> Tensor:
    """The p x q patches around chosen pixels only (cheaper than :func:`extract_patches`).

    Args:
        x: (B, C, H, W) float.
        index: (B, n) int64 flat pixel indices in [0, H * W).
        size: (p, q).

    Returns:
        (B, C, n, p * q), equal to ``extract_patches(x, size)[:, :, index]`` per batch element.
    """
    check_image(x)
    p, q = _check_size(size)
    b, c, h, w = x.shape
    if index.ndim != 2 or index.shape[0] != b:
        raise ValueError(f"index: expected (B={b}, n), got {tuple(index.shape)}")
    padded = pad_for_patches(x, (p, q))  # (B, C, H + p - 1, W + q - 1)
    wp = w + q - 1
    rows, cols = index // w, index % w  # top-left corner of each window in the padded image
    dy = torch.arange(p, device=x.device).repeat_interleave(q)  # (pq,)
    dx = torch.arange(q, device=x.device).repeat(p)  # (pq,)
    flat = (rows[..., None] + dy) * wp + (cols[..., None] + dx)  # (B, n, pq)
    n = index.shape[1]
    source = padded.flatten(2)  # (B, C, Hp * Wp)
    picked = source.gather(2, flat.view(b, 1, n * p * q).expand(b, c, n * p * q))
    return picked.view(b, c, n, p * q)


def centre_index(size: tuple[int, int]) -> int:
    """Position of the centre pixel inside a flattened p x q patch."""
    p, q = _check_size(size)
    return ((p - 1) // 2) * q + (q - 1) // 2
