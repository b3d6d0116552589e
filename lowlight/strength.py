"""How strong the enhancement is: a user's control between the input and beyond the default."""

from __future__ import annotations

from torch import Tensor

_EPS = 1.0 / 255

#: the largest strength the command line accepts (4 x the default gain in log terms)
MAX_STRENGTH = 4.0


def apply_strength(lq: Tensor, enhanced: Tensor, strength: float) -> Tensor:
    """Scale the enhancement's per-pixel gain in the log domain.

    ``out = (lq + eps) * ((enhanced + eps) / (lq + eps)) ** strength - eps``: 0 returns the input,
    1 the enhanced image unchanged, above 1 extrapolates the same gain (brighter), between 0 and 1
    a gentler one. Working on the gain, not on a linear blend, keeps the enhancement's local
    structure (which pixels were lifted more) at every strength.

    Args:
        lq: (B, 3, H, W) float in [0, 1], the input.
        enhanced: (B, 3, H, W) float in [0, 1], the enhancer's output for it.
        strength: >= 0.

    Returns:
        (B, 3, H, W) float in [0, 1]; ``enhanced`` itself when ``strength == 1``.
    """
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength!r}")
    if lq.shape != enhanced.shape:
        raise ValueError(f"lq and enhanced must have one shape, got {tuple(lq.shape)} and {tuple(enhanced.shape)}")
    if strength == 1:
        return enhanced
    gain = (enhanced + _EPS) / (lq + _EPS)
    return ((lq + _EPS) * gain.pow(strength) - _EPS).clamp(0.0, 1.0)
