"""Run a local (finite receptive field) network on a large image tile by tile."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def run_tiled(fn: Callable[[Tensor], Tensor], x: Tensor, tile: int, halo: int) -> Tensor:
    """Apply a size-preserving, spatially local ``fn`` on overlapping tiles.

    Each tile is cut with ``halo`` extra pixels per side (clipped at the image border), so
    with ``halo`` >= ``fn``'s receptive-field radius the result equals ``fn(x)`` away from tile
    seams up to the effect of ``fn``'s own border padding, which then only touches the image
    border as in the untiled call.

    Args:
        fn: (B, C, h, w) -> (B, C', h, w).
        x: (B, C, H, W).
        tile: tile side (without halo), >= 1; images no larger than this run in one call.
        halo: overlap per side, >= 0.

    Returns:
        (B, C', H, W).
    """
    if tile < 1 or halo < 0:
        raise ValueError(f"need tile >= 1 and halo >= 0, got tile={tile}, halo={halo}")
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return fn(x)
    out: Tensor | None = None
    for r0 in range(0, h, tile):
        for c0 in range(0, w, tile):
            r1, c1 = min(h, r0 + tile), min(w, c0 + tile)
            a0, b0 = max(0, r0 - halo), max(0, c0 - halo)
            a1, b1 = min(h, r1 + halo), min(w, c1 + halo)
            y = fn(x[..., a0:a1, b0:b1])
            if out is None:
                out = torch.empty(*y.shape[:2], h, w, dtype=y.dtype, device=y.device)
            out[..., r0:r1, c0:c1] = y[..., r0 - a0 : r1 - a0, c0 - b0 : c1 - b0]
    assert out is not None
    return out
