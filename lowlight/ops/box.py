"""Box (moving-average) filters as sums of shifted slices.

Separable: about two additions per value and window side, where ``avg_pool2d``'s CPU kernel and
kornia's ``box_blur`` cost several times more at the sizes the enhancer filters (measured on a
3840 x 2160 photo: 3x).
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

BoxBorder = Literal["reflect", "replicate"]


def box_mean_valid(x: Tensor, window: int) -> Tensor:
    """Means of the ``window`` x ``window`` windows lying wholly inside ``x``.

    Args:
        x: (N, C, H, W) float, H and W >= ``window``.
        window: the window's side, >= 1.

    Returns:
        (N, C, H - window + 1, W - window + 1), the dtype of ``x``.
    """
    height, width = x.shape[-2:]
    if window < 1 or min(height, width) < window:
        raise ValueError(f"window must be in 1..{min(height, width)} for a {height} x {width} input, got {window!r}")
    rows = x[..., : height - window + 1, :].clone()
    for shift in range(1, window):
        rows += x[..., shift : shift + height - window + 1, :]
    out = rows[..., : width - window + 1].clone()
    for shift in range(1, window):
        out += rows[..., shift : shift + width - window + 1]
    return out.div_(window * window)


def box_mean(x: Tensor, radius: int, border: BoxBorder = "reflect") -> Tensor:
    """Mean over the (2 radius + 1)^2 window around every pixel, the border extended by ``border``.

    The same as ``kornia.filters.box_blur(x, 2 radius + 1, border_type=border)`` (tested).

    Args:
        x: (N, C, H, W) float; with ``"reflect"``, H and W > radius.
        radius: >= 0 (0 returns ``x``).
        border: ``"reflect"`` or ``"replicate"``.

    Returns:
        (N, C, H, W), the dtype of ``x``.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius!r}")
    if radius == 0:
        return x
    return box_mean_valid(F.pad(x, (radius,) * 4, mode=border), 2 * radius + 1)
