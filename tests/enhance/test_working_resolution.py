"""The working resolution: analyse a downscaled copy, let the GP predict every full-size pixel (or the copy)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lowlight.cli.demo import demo_images
from lowlight.data.darken import gamma_darken, quantize_8bit
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.metrics.quality import psnr_per_image


@pytest.fixture(scope="module")
def large_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A 192 x 288 photo (upsampled demo photo) and its gamma-3 darkening."""
    _, _, gt = demo_images(size=96)[1]
    gt = F.interpolate(gt[None], size=(192, 288), mode="bicubic", align_corners=False).clamp(0, 1)
    return gt, quantize_8bit(gamma_darken(gt, 3.0))


def _enhancer(**settings: object) -> Enhancer:
    return Enhancer.from_checkpoint(EnhancerConfig(gp=GPOptions(k=16), **settings))  # type: ignore[arg-type]


def test_images_within_the_working_size_are_unaffected(large_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, dark = large_pair
    with torch.inference_mode():
        full = _enhancer(work_size=0)(dark, return_std=True)
        same = _enhancer(work_size=288)(dark, return_std=True)
    assert torch.equal(full.image, same.image) and torch.equal(full.std, same.std)  # type: ignore[arg-type]


def test_working_resolution_keeps_full_size_quality(large_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    gt, dark = large_pair
    with torch.inference_mode():
        results = {size: _enhancer(work_size=size)(dark, return_std=True) for size in (0, 96)}
    small = results[96]
    assert small.image.shape == gt.shape and small.reference.shape == gt.shape
    assert small.std is not None and small.std.shape == (1, 1, 192, 288)
    psnr = {size: float(psnr_per_image(r.image, gt)) for size, r in results.items()}
    assert psnr[96] > float(psnr_per_image(dark, gt)) + 5
    assert abs(psnr[96] - psnr[0]) < 1.0, psnr  # a 3x smaller analysis, about the same output


def test_upsampling_methods_and_errors(large_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, dark = large_pair
    enhancer = _enhancer(work_size=96)
    small = enhancer.working_copy(dark)
    assert small.shape == (1, 3, 64, 96)
    with torch.inference_mode():
        reference = enhancer.reference(small)
        given = enhancer(dark, reference=reference).image
        assert torch.equal(given, enhancer(dark).image)
        with pytest.raises(ValueError, match=r"not at the working size \(64, 96\)"):
            enhancer(dark, reference=enhancer.reference(dark))
    with pytest.raises(ValueError, match="work_size must be >= 0"):
        EnhancerConfig(work_size=-1)
    with pytest.raises(ValueError, match="reference_upsampling must be one of"):
        EnhancerConfig(reference_upsampling="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference_flat_gradient must be >= 0, got -0.1"):
        EnhancerConfig(reference_flat_gradient=-0.1)
    with pytest.raises(ValueError, match=r"reference_flat_noise must be \(low, high\)"):
        EnhancerConfig(reference_flat_noise=(0.004, 0.001))


def test_flat_region_blend_follows_the_noise(large_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    gt, dark = large_pair  # 8-bit gamma darkening: clean, so the blend stays off
    noisy = (dark + 0.02 * torch.randn(dark.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    with torch.inference_mode():
        for image, moves in ((dark, False), (noisy, True)):
            blended = _enhancer(work_size=96)(image).reference
            sharp = _enhancer(work_size=96, reference_flat_gradient=0.0)(image).reference
            assert torch.equal(blended, sharp) != moves
            if moves:  # the noisy reference's flat regions lose their noise
                assert float((blended - F.avg_pool2d(blended, 3, 1, 1)).abs().mean()) < \
                    float((sharp - F.avg_pool2d(sharp, 3, 1, 1)).abs().mean())


def test_noise_gate_reads_full_resolution_pixels() -> None:
    enhancer = _enhancer(work_size=32)
    x = torch.rand(1, 3, 80, 50)
    crop = enhancer._noise_sample(x)
    assert crop.shape == (1, 3, 32, 32) and torch.equal(crop, x[..., 24:56, 9:41])
    assert enhancer._noise_sample(x[..., :32, :20]).shape == (1, 3, 32, 20)


def test_gp_at_working_resolution(large_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    gt, dark = large_pair
    with torch.inference_mode():
        per_pixel = _enhancer(work_size=96, gp_resolution="full")(dark, return_std=True)
        on_small = _enhancer(work_size=96, gp_resolution="working")(dark, return_std=True)
        rough = _enhancer(work_size=96, gp_resolution="working", guide_noise_floor=None)(dark)
        # within the working size there is nothing to upsample: the same bytes either way
        assert torch.equal(_enhancer(work_size=288, gp_resolution="working")(dark).image,
                           _enhancer(work_size=288, gp_resolution="full")(dark).image)
    assert on_small.image.shape == gt.shape and on_small.std is not None and on_small.std.shape == (1, 1, 192, 288)
    assert float(on_small.std.min()) >= 0
    # the full-size reference, made on first access, is the one the per-pixel GP used
    assert torch.equal(on_small.reference, per_pixel.reference)
    assert not torch.equal(on_small.image, per_pixel.image)
    # the smoothed guide takes the gamma-3 darkening's amplified 8-bit steps out of flat regions
    assert _roughness(on_small.image) < _roughness(rough.image)
    psnr_small, psnr_pixel = (float(psnr_per_image(r.image, gt)) for r in (on_small, per_pixel))
    assert psnr_small > float(psnr_per_image(dark, gt)) + 5
    assert abs(psnr_small - psnr_pixel) < 1.0, (psnr_small, psnr_pixel)
    with pytest.raises(ValueError, match="gp_resolution must be 'full' or 'working', got 'half'"):
        EnhancerConfig(gp_resolution="half")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="guide_noise_floor must be > 0 or None, got 0"):
        EnhancerConfig(guide_noise_floor=0)


def _roughness(image: torch.Tensor) -> float:
    """Mean absolute difference to the 3 x 3 local mean."""
    return float((image - F.avg_pool2d(image, 3, 1, 1, count_include_pad=False)).abs().mean())


def test_with_work_size_shares_the_networks_and_changes_only_the_working_size(
        large_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, dark = large_pair
    enhancer = _enhancer(work_size=0)
    assert enhancer.with_work_size(0) is enhancer
    smaller = enhancer.with_work_size(96)
    assert smaller.net is enhancer.net and smaller.learned_gp is enhancer.learned_gp
    assert smaller.config == EnhancerConfig(gp=enhancer.config.gp, work_size=96)
    with torch.inference_mode():
        assert torch.equal(smaller(dark).image, _enhancer(work_size=96)(dark).image)
        assert not torch.equal(smaller(dark).image, enhancer(dark).image)
