"""Bringing a working-resolution reference to full size."""

from __future__ import annotations

import math

import pytest
import torch

from lowlight.ops.guided_upsample import LOG_EPS, upsample_reference
from lowlight.ops.resize import resize_image


def _scene(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A dark image with sharp edges and fine texture: (1, 3, h, w) in [0, 0.3]."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 16, w // 16, generator=gen)
    x = torch.nn.functional.interpolate(base, size=(h, w), mode="nearest")  # blocks: sharp edges
    x = x + 0.3 * torch.rand(1, 3, h, w, generator=gen)  # fine texture
    return (x / 1.3 * 0.3).clamp(0, 1)


def _curve(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log y = a log(x + eps) + b with per-pixel (smooth) a, b."""
    return (torch.exp(a * torch.log(x + LOG_EPS) + b) - LOG_EPS).clamp(0, 1)


def test_guided_reproduces_a_smoothly_varying_log_curve_at_full_resolution() -> None:
    lq = _scene(256, 384)
    h, w = lq.shape[-2:]
    rows = torch.linspace(0, 1, h).view(1, 1, h, 1)
    a = 0.45 + 0.1 * rows.expand(1, 3, h, w)  # slowly varying gamma
    b = torch.full_like(a, -0.1)
    truth = _curve(lq, a, b)
    small_size = (64, 96)
    lq_small = resize_image(lq, small_size)
    coarse = lambda m: torch.nn.functional.interpolate(m, size=small_size, mode="area")  # noqa: E731 (maps, not images)
    ref_small = _curve(lq_small, coarse(a), coarse(b))
    errors = {m: float((upsample_reference(lq_small, ref_small, lq, m) - truth).abs().mean())
              for m in ("guided", "gain", "bilinear")}
    assert errors["guided"] < 0.01  # the curve is reproduced with the full-size texture
    assert errors["guided"] < errors["gain"] < errors["bilinear"]


def test_same_size_and_shapes_and_errors() -> None:
    lq = _scene(64, 64)
    ref = (lq * 3).clamp(0, 1)
    for method in ("guided", "gain", "bilinear"):
        out = upsample_reference(lq, ref, lq, method)  # type: ignore[arg-type]
        assert out.shape == lq.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.allclose(upsample_reference(lq, ref, lq, "bilinear"), ref)
    assert torch.allclose(upsample_reference(lq, ref, lq, "gain"), ref, atol=1e-6)
    tiny = torch.rand(1, 1, 1, 1)  # a 1 x 1 working copy: replicate borders
    assert upsample_reference(tiny, tiny, torch.rand(1, 1, 3, 5), "guided").shape == (1, 1, 3, 5)
    with pytest.raises(ValueError, match="method must be one of"):
        upsample_reference(lq, ref, lq, "nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ref_small \(1, 3, 8, 8\) does not match"):
        upsample_reference(lq, ref[..., :8, :8], lq)
    with pytest.raises(ValueError, match="regularisation > 0"):
        upsample_reference(lq, ref, lq, regularisation=0.0)
    assert math.isfinite(float(upsample_reference(lq * 0, ref * 0, lq * 0).sum()))


def test_flat_regions_take_the_bilinear_reference_and_edges_the_guided_one() -> None:
    gen = torch.Generator().manual_seed(3)
    small_size, size = (32, 64), (128, 256)
    # a reference flat on the left half, a hard vertical edge every 2 working pixels on the right
    ref_small = torch.full((1, 3, *small_size), 0.4)
    ref_small[..., 32:] = torch.where(torch.arange(32) % 4 < 2, 0.1, 0.9).view(1, 1, 1, 32)
    lq_small = (ref_small**2.5).clamp(0, 1)
    lq = resize_image(lq_small, size).add_(0.02 * torch.randn(1, 3, *size, generator=gen)).clamp_(0, 1)
    plain = upsample_reference(lq_small, ref_small, lq, "guided")
    bilinear = upsample_reference(lq_small, ref_small, lq, "bilinear")
    blended = upsample_reference(lq_small, ref_small, lq, "guided", flat_gradient=0.02)
    assert torch.equal(upsample_reference(lq_small, ref_small, lq, "guided", flat_gradient=0.0), plain)
    flat, edges = (slice(None), slice(None), slice(8, -8), slice(8, 112)), (..., slice(140, 250))
    # flat: nearly all bilinear (kornia's Sobel magnitude has a floor of sqrt(1e-6)), the noise gone
    gap = (blended[flat] - bilinear[flat]).abs()
    assert bool((gap <= 0.02 * (plain[flat] - bilinear[flat]).abs() + 1e-6).all())
    assert float(plain[flat].std()) > 10 * float(blended[flat].std())
    near_edge = (blended[edges] - plain[edges]).abs() < 1e-6
    assert float(near_edge.float().mean()) > 0.9  # on and beside the edges the guided filter stays
    # a clean image (weight 0) keeps the plain guided result; half the weight moves half as far
    assert torch.equal(upsample_reference(lq_small, ref_small, lq, "guided", flat_gradient=0.02,
                                          flat_weight=torch.zeros(1, 1, 1, 1)), plain)
    half = upsample_reference(lq_small, ref_small, lq, "guided", flat_gradient=0.02,
                              flat_weight=torch.full((1, 1, 1, 1), 0.5))
    torch.testing.assert_close(half[flat], 0.5 * (plain[flat] + blended[flat]), rtol=0, atol=2e-3)
    # the same result when autograd records the call
    with torch.enable_grad():
        recorded = upsample_reference(lq_small, ref_small.requires_grad_(), lq, "guided", flat_gradient=0.02)
    torch.testing.assert_close(recorded.detach(), blended, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="flat_gradient must be >= 0, got -1"):
        upsample_reference(lq_small, ref_small.detach(), lq, "guided", flat_gradient=-1)
