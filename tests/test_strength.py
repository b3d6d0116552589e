"""The enhancement-strength control: closed forms, limits, errors, and through the Enhancer."""

from __future__ import annotations

import pytest
import torch

from lowlight.enhancer import Enhancer, EnhancerConfig
from lowlight.strength import apply_strength


def test_strength_limits_and_closed_form() -> None:
    generator = torch.Generator().manual_seed(0)
    lq = torch.rand(2, 3, 8, 9, generator=generator, dtype=torch.float64) * 0.2
    enhanced = (lq * 3).clamp(0, 1)
    torch.testing.assert_close(apply_strength(lq, enhanced, 0.0), lq)
    assert apply_strength(lq, enhanced, 1.0) is enhanced
    eps = 1 / 255
    expected = ((lq + eps) * ((enhanced + eps) / (lq + eps)) ** 1.5 - eps).clamp(0, 1)
    torch.testing.assert_close(apply_strength(lq, enhanced, 1.5), expected)
    # Monotonic in strength where the enhancement brightens.
    half, one, two = (apply_strength(lq, enhanced, s) for s in (0.5, 1.0, 2.0))
    assert bool((half <= one + 1e-12).all()) and bool((one <= two + 1e-12).all())


def test_strength_errors_name_the_value() -> None:
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="strength must be >= 0, got -1"):
        apply_strength(x, x, -1.0)
    with pytest.raises(ValueError, match="one shape"):
        apply_strength(x, x[..., :2], 1.0)
    with pytest.raises(ValueError, match=r"strength must be in \[0, 4.0\], got 9"):
        EnhancerConfig(strength=9)


def test_enhancer_strength_zero_returns_the_input() -> None:
    generator = torch.Generator().manual_seed(1)
    lq = torch.rand(1, 3, 32, 32, generator=generator) * 0.15
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(strength=0.0))
    with torch.inference_mode():
        out = enhancer(lq).image
    torch.testing.assert_close(out, lq)
    brighter = Enhancer.from_checkpoint(EnhancerConfig(strength=1.5))
    default = Enhancer.from_checkpoint(EnhancerConfig())
    with torch.inference_mode():
        assert brighter(lq).image.mean() > default(lq).image.mean()
