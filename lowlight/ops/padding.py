"""Size-preserving padding for valid (unpadded) convolution stacks."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_reflect(x: Tensor, pad: int) -> Tensor:
    """Pad the last two dims by ``pad`` on every side, reflecting, so valid convolutions keep size.

    Reflection needs ``pad < size``; smaller images (down to 1 x 1) are padded by replication.

    Args:
        x: (B, C, H, W) float.
        pad: pixels added on each side, >= 0.

    Returns:
        (B, C, H + 2 pad, W + 2 pad), same dtype.
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if pad == 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (pad, pad, pad, pad), mode=mode)
