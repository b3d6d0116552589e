"""Synthetic darkening: hand-computed values, closed forms, statistics, determinism, errors."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from lowlight.data.darken import (
    DarkeningConfig,
    LightFieldConfig,
    darken,
    gamma_darken,
    light_field,
    poisson_gaussian_noise,
    quantize_8bit,
)

# Only global gamma, no light field, no noise: protocol A's kind of sample.
GLOBAL_ONLY = DarkeningConfig(bright_prob=0.0, light_field_prob=0.0, noise_prob=0.0)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- gamma and quantisation


def test_gamma_darken_hand_values() -> None:
    gt = torch.full((2, 3, 1, 2), 0.5)
    dark = gamma_darken(gt, torch.tensor([2.0, 3.0]))
    assert torch.allclose(dark[0], torch.full((3, 1, 2), 0.25))
    assert torch.allclose(dark[1], torch.full((3, 1, 2), 0.125))
    # 0.25 * 255 = 63.75 -> 64; 0.125 * 255 = 31.875 -> 32.
    quantised = quantize_8bit(dark) * 255.0
    assert torch.equal(quantised[0].round(), torch.full((3, 1, 2), 64.0))
    assert torch.equal(quantised[1].round(), torch.full((3, 1, 2), 32.0))
    assert torch.allclose(gamma_darken(gt, 2.0), dark[:1].expand(2, -1, -1, -1))


def test_gamma_darken_is_per_channel_power() -> None:
    gt = torch.rand(3, 3, 5, 4, generator=gen(0), dtype=torch.float64)
    gamma = torch.tensor([1.0, 2.5, 6.0], dtype=torch.float64)
    expected = np.power(gt.numpy(), gamma.numpy()[:, None, None, None])
    assert np.allclose(gamma_darken(gt, gamma).numpy(), expected, rtol=0, atol=1e-15)


def test_quantize_matches_numpy_round_half_even() -> None:
    values = torch.cat([
        torch.rand(1000, generator=gen(1), dtype=torch.float64) * 1.2 - 0.1,
        torch.tensor([0.5 / 255, 1.5 / 255, 2.5 / 255], dtype=torch.float64),  # exact ties
    ])
    expected = np.round(np.clip(values.numpy(), 0, 1) * 255) / 255
    assert np.array_equal(quantize_8bit(values).numpy(), expected)
    assert quantize_8bit(values)[-3:].mul(255).tolist() == [0.0, 2.0, 2.0]


def test_gamma_darken_gradcheck() -> None:
    gt = torch.rand(2, 3, 2, 2, generator=gen(2), dtype=torch.float64) * 0.9 + 0.05
    gamma = torch.tensor([1.5, 3.0], dtype=torch.float64)
    gt.requires_grad_(True)
    gamma.requires_grad_(True)
    assert torch.autograd.gradcheck(gamma_darken, (gt, gamma))


def test_gamma_darken_errors() -> None:
    gt = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        gamma_darken(gt, 0.0)
    with pytest.raises(ValueError, match=r"gamma must be > 0, got \[2.0, -1.0\]"):
        gamma_darken(gt, torch.tensor([2.0, -1.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(3,\)"):
        gamma_darken(gt, torch.ones(3))
    with pytest.raises(ValueError, match=r"expected \(B, C, H, W\), got \(3, 4, 4\)"):
        gamma_darken(gt[0], 2.0)
    with pytest.raises(TypeError, match="floating"):
        quantize_8bit(torch.zeros(3, dtype=torch.uint8))


# ---------------------------------------------------------------- light field


def test_light_field_shape_bounds_and_determinism() -> None:
    config = LightFieldConfig(gradient_prob=0.5, vignette_prob=0.5)
    field = light_field(16, 24, 40, config, gen(3))
    assert field.shape == (16, 1, 24, 40) and field.dtype == torch.float32
    lowest = config.ambient_range[0] * (1 - config.vignette_strength_range[1])
    assert float(field.min()) >= lowest and float(field.max()) <= 1.0
    assert torch.equal(field, light_field(16, 24, 40, config, gen(3)))
    assert not torch.equal(field, light_field(16, 24, 40, config, gen(4)))
    # Smooth: neighbouring pixels differ far less than the field's own range.
    assert float(field.diff(dim=-1).abs().max()) < 0.15
    assert float(field.diff(dim=-2).abs().max()) < 0.15


def test_light_field_ambient_only_is_flat_at_ambient() -> None:
    config = LightFieldConfig(ambient_range=(0.2, 0.2), pool_peak_range=(0.0, 0.0),
                              gradient_prob=0.0, vignette_prob=0.0)
    field = light_field(3, 8, 8, config, gen(5), dtype=torch.float64)
    assert torch.allclose(field, torch.full_like(field, 0.2), atol=1e-15)


def test_light_field_vignette_closed_form() -> None:
    height, width, strength = 12, 20, 0.5
    config = LightFieldConfig(ambient_range=(1.0, 1.0), pool_peak_range=(0.0, 0.0),
                              gradient_prob=0.0, vignette_prob=1.0,
                              vignette_strength_range=(strength, strength))
    field = light_field(2, height, width, config, gen(6), dtype=torch.float64)
    # 1 - s * (r / r_corner)^2, r from the image centre, at pixel centres.
    y = np.arange(height) + 0.5 - height / 2
    x = np.arange(width) + 0.5 - width / 2
    r2 = (y[:, None] ** 2 + x[None] ** 2) / ((height / 2) ** 2 + (width / 2) ** 2)
    expected = 1 - strength * r2
    for sample in field[:, 0].numpy():
        assert np.allclose(sample, expected, atol=1e-12)


def test_light_field_gradient_is_a_full_ramp() -> None:
    config = LightFieldConfig(ambient_range=(1e-9, 1e-9), pool_peak_range=(0.0, 0.0),
                              gradient_prob=1.0, gradient_peak_range=(1.0, 1.0), vignette_prob=0.0)
    field = light_field(4, 10, 14, config, gen(7), dtype=torch.float64)[:, 0].numpy()
    yy, xx = np.mgrid[0:10, 0:14]
    design = np.stack([np.ones(yy.size), yy.ravel(), xx.ravel()], axis=1)
    for sample in field:
        coef, *_ = np.linalg.lstsq(design, sample.ravel(), rcond=None)
        assert np.allclose(design @ coef, sample.ravel(), atol=1e-8)  # affine in (y, x)
        assert sample.min() == pytest.approx(0.0, abs=1e-8)
        assert sample.max() == pytest.approx(1.0, abs=1e-8)


def test_light_field_single_round_pool_has_gaussian_curvature() -> None:
    sigma, side = 0.5, 32
    config = LightFieldConfig(ambient_range=(1e-9, 1e-9), pools_range=(1, 1),
                              pool_sigma_range=(sigma, sigma), pool_peak_range=(1.0, 1.0),
                              gradient_prob=0.0, vignette_prob=0.0)
    field = light_field(3, side, side, config, gen(8), dtype=torch.float64)[:, 0]
    # log f = -((y - cy)^2 + (x - cx)^2) / (2 sigma^2): second differences are constant,
    # -h^2 / sigma^2 with pixel spacing h = 1 / side.
    log_field = field.log()
    expected = -1.0 / (side**2 * sigma**2)
    second_x = log_field[..., 2:] - 2 * log_field[..., 1:-1] + log_field[..., :-2]
    second_y = log_field[:, 2:] - 2 * log_field[:, 1:-1] + log_field[:, :-2]
    assert torch.allclose(second_x, torch.full_like(second_x, expected), rtol=1e-4)
    assert torch.allclose(second_y, torch.full_like(second_y, expected), rtol=1e-4)


def test_light_field_round_pools_are_isotropic() -> None:
    side = 24
    config = LightFieldConfig(ambient_range=(1e-9, 1e-9), pools_range=(1, 1),
                              pool_sigma_range=(0.3, 0.6), round_pools=True, pool_margin=0.0,
                              pool_peak_range=(1.0, 1.0), gradient_prob=0.0, vignette_prob=0.0)
    log_field = light_field(4, side, side, config, gen(9), dtype=torch.float64)[:, 0].log()
    second_x = log_field[..., 2:] - 2 * log_field[..., 1:-1] + log_field[..., :-2]  # (B, H, W-2)
    second_y = log_field[:, 2:] - 2 * log_field[:, 1:-1] + log_field[:, :-2]  # (B, H-2, W)
    curvature_x, curvature_y = second_x.mean(dim=(1, 2)), second_y.mean(dim=(1, 2))
    assert torch.allclose(curvature_x, curvature_y, rtol=1e-4)
    sigma = (-1.0 / (curvature_x * side**2)).sqrt()  # inverts -h^2 / sigma^2
    assert bool(((sigma >= 0.3 - 1e-6) & (sigma <= 0.6 + 1e-6)).all())
    assert float(sigma.max() - sigma.min()) > 0.01  # drawn, not fixed
    # Centred inside the image: the brightest pixel is the centre's, at 1 up to sampling.
    peak = log_field.exp().amax(dim=(1, 2))
    assert bool((peak > 1 - 1.0 / (side * 0.3) ** 2).all())


def test_light_field_config_errors() -> None:
    with pytest.raises(ValueError, match="vignette_strength_range must stay below 1"):
        LightFieldConfig(vignette_strength_range=(0.2, 1.0))
    with pytest.raises(ValueError, match=r"ambient_range must be > 0.0, got \(0.0, 0.3\)"):
        LightFieldConfig(ambient_range=(0.0, 0.3))
    with pytest.raises(ValueError, match="pools_range must be .low, high. with low <= high"):
        LightFieldConfig(pools_range=(3, 1))
    with pytest.raises(ValueError, match="pool_margin must be >= 0, got -0.1"):
        LightFieldConfig(pool_margin=-0.1)
    with pytest.raises(ValueError, match="height must be > 0, got 0"):
        light_field(1, 0, 4, LightFieldConfig(), gen(0))


# ---------------------------------------------------------------- noise


def test_poisson_gaussian_statistics_on_flat_image() -> None:
    level, photons, read_std = 0.3, 300.0, 0.004
    clean = torch.full((1, 1, 512, 512), level, dtype=torch.float64)
    noisy = poisson_gaussian_noise(clean, photons, read_std, gen(9))
    n = clean.numel()
    variance = level / photons + read_std**2
    assert abs(float(noisy.mean()) - level) < 5 * math.sqrt(variance / n)
    # The sample variance's relative std is about sqrt(2 / n) = 0.28 %.
    assert float(noisy.var()) == pytest.approx(variance, rel=0.02)


def test_poisson_gaussian_per_sample_parameters() -> None:
    clean = torch.full((2, 1, 256, 256), 0.5, dtype=torch.float64)
    photons = torch.tensor([50.0, 1000.0], dtype=torch.float64)
    noisy = poisson_gaussian_noise(clean, photons, torch.zeros(2, dtype=torch.float64), gen(10))
    for sample, count in zip(noisy, photons.tolist()):
        assert float(sample.var()) == pytest.approx(0.5 / count, rel=0.03)
        # Without read noise every value is a whole number of photons.
        counts = sample * count
        assert torch.allclose(counts, counts.round(), atol=1e-9)


def test_poisson_gaussian_errors() -> None:
    clean = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="photons must be finite and > 0"):
        poisson_gaussian_noise(clean, torch.tensor([300.0, math.inf]), 0.0, gen(0))
    with pytest.raises(ValueError, match="read_std must be >= 0"):
        poisson_gaussian_noise(clean, 300.0, -0.1, gen(0))
    with pytest.raises(ValueError, match=r"photons: expected a float or shape \(2,\), got \(1,\)"):
        poisson_gaussian_noise(clean, torch.tensor([300.0]), 0.0, gen(0))


# ---------------------------------------------------------------- darken


def test_darken_is_deterministic_given_the_generator() -> None:
    gt = torch.rand(6, 3, 16, 16, generator=gen(11))
    lq_a, params_a = darken(gt, DarkeningConfig(), gen(12))
    lq_b, params_b = darken(gt, DarkeningConfig(), gen(12))
    assert torch.equal(lq_a, lq_b)
    for name in ("gamma", "bright", "uneven", "noisy", "photons", "read_std"):
        assert torch.equal(getattr(params_a, name), getattr(params_b, name))
    lq_c, _ = darken(gt, DarkeningConfig(), gen(13))
    assert not torch.equal(lq_a, lq_c)


def test_darken_global_gamma_only_equals_quantised_power() -> None:
    gt = torch.rand(8, 3, 8, 8, generator=gen(14))
    lq, params = darken(gt, GLOBAL_ONLY, gen(15))
    assert lq.shape == gt.shape and lq.dtype == gt.dtype
    assert bool(((params.gamma >= 2.0) & (params.gamma <= 6.0)).all())
    assert not params.uneven.any() and not params.noisy.any() and not params.bright.any()
    gamma = params.gamma.double().numpy()[:, None, None, None]
    expected = np.round(np.power(gt.double().numpy(), gamma) * 255)
    # float32 powers may land on the other side of a rounding boundary, at most one level away.
    levels = (lq * 255).round().double().numpy()
    assert np.abs(levels - expected).max() <= 1 and (levels == expected).mean() > 0.99
    assert torch.isinf(params.photons).all() and (params.read_std == 0).all()


def test_darken_gamma_one_is_identity_up_to_quantisation() -> None:
    gt = torch.rand(4, 3, 8, 8, generator=gen(16), dtype=torch.float64)
    config = replace(GLOBAL_ONLY, bright_prob=1.0, bright_gamma_range=(1.0, 1.0))
    lq, params = darken(gt, config, gen(17))
    assert (params.gamma == 1.0).all() and params.bright.all()
    assert torch.equal(lq, quantize_8bit(gt))
    assert float((lq - gt).abs().max()) <= 0.5 / 255 + 1e-12


def test_darken_output_is_8bit_and_in_range() -> None:
    gt = torch.rand(16, 3, 12, 12, generator=gen(18))
    lq, _ = darken(gt, replace(DarkeningConfig(), noise_prob=1.0, uneven_noise_prob=1.0), gen(19))
    assert float(lq.min()) >= 0.0 and float(lq.max()) <= 1.0
    assert torch.allclose(lq * 255, (lq * 255).round(), atol=1e-4)
    lq_float, _ = darken(gt, replace(DarkeningConfig(), quantize=False), gen(19))
    assert not torch.allclose(lq_float * 255, (lq_float * 255).round(), atol=1e-4)


def test_darken_light_field_only_darkens() -> None:
    gt = torch.rand(8, 3, 16, 16, generator=gen(20))
    config = replace(GLOBAL_ONLY, light_field_prob=1.0, uneven_noise_prob=0.0)
    lq, params = darken(gt, config, gen(21))
    assert params.uneven.all() and not params.noisy.any()
    assert bool(((params.gamma >= 1.5) & (params.gamma <= 4.0)).all())
    upper = quantize_8bit(gamma_darken(gt, params.gamma))
    assert bool((lq <= upper).all()) and bool((lq < upper).any())


def test_darken_draw_frequencies_and_ranges() -> None:
    count = 4000
    config = DarkeningConfig()
    gt = torch.rand(count, 3, 2, 2, generator=gen(22))
    _, params = darken(gt, config, gen(23))

    def close(hits: torch.Tensor, probability: float) -> bool:
        """The frequency of ``hits`` is within 5 binomial standard deviations of ``probability``."""
        tolerance = 5 * math.sqrt(probability * (1 - probability) / hits.numel())
        return abs(hits.double().mean().item() - probability) < tolerance

    bright, uneven, noisy = params.bright, params.uneven, params.noisy
    even_dark = ~bright & ~uneven
    assert close(bright, config.bright_prob)
    assert close(uneven, (1 - config.bright_prob) * config.light_field_prob)
    assert close(noisy[uneven], config.uneven_noise_prob)
    assert close(noisy[even_dark], config.noise_prob)
    assert not noisy[bright].any() and not uneven[bright].any()
    for mask, (low, high) in ((bright, config.bright_gamma_range),
                              (even_dark, config.gamma_range),
                              (uneven, config.uneven_gamma_range)):
        gammas = params.gamma[mask]
        assert float(gammas.min()) >= low and float(gammas.max()) <= high
        assert float(gammas.max() - gammas.min()) > 0.9 * (high - low)  # the range is covered
    photons = params.photons[noisy]
    assert float(photons.min()) >= 100.0 and float(photons.max()) <= 1000.0
    # Log-uniform: the median is the geometric mean of the bounds, sqrt(100 * 1000) = 316.
    assert float(photons.median()) == pytest.approx(316.2, rel=0.1)
    read_std = params.read_std[noisy]
    assert float(read_std.min()) >= 0.001 and float(read_std.max()) <= 0.008


def test_darkening_config_errors() -> None:
    with pytest.raises(ValueError, match=r"gamma_range must be .* got \(6.0, 2.0\)"):
        DarkeningConfig(gamma_range=(6.0, 2.0))
    with pytest.raises(ValueError, match="bright_prob must be in .0, 1., got 1.5"):
        DarkeningConfig(bright_prob=1.5)
    with pytest.raises(ValueError, match="photons_range must be > 0.0"):
        DarkeningConfig(photons_range=(0.0, 10.0))
    with pytest.raises(ValueError, match=r"gt: expected \(B, 3, H, W\), got \(2, 1, 4, 4\)"):
        darken(torch.rand(2, 1, 4, 4), DarkeningConfig(), gen(0))
