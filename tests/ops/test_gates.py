from __future__ import annotations

import pytest
import torch

from lowlight.ops.gates import _row_quantile, estimate_noise_sigma, noise_weight

LUMA_NORM = (0.299**2 + 0.587**2 + 0.114**2) ** 0.5  # luma std of i.i.d. unit noise per channel


def _smooth(b: int = 1, size: int = 96) -> torch.Tensor:
    ramp = torch.linspace(0.2, 0.6, size)
    return (ramp[None, :] * 0.5 + ramp[:, None] * 0.5).expand(b, 3, size, size).clone()  # (B, 3, H, W)


@pytest.mark.parametrize("sigma", [0.004, 0.01, 0.03])
def test_recovers_gaussian_noise_on_a_smooth_image(sigma: float) -> None:
    g = torch.Generator().manual_seed(0)
    x = _smooth() + sigma * torch.randn(1, 3, 96, 96, generator=g)
    estimate = float(estimate_noise_sigma(x)[0])
    assert estimate == pytest.approx(sigma * LUMA_NORM, rel=0.1)


def test_clean_shading_reads_zero_and_texture_is_mostly_ignored() -> None:
    x = _smooth(2)
    assert float(estimate_noise_sigma(x)[0]) == pytest.approx(0.0, abs=1e-6)
    # a strongly textured quarter (a 1-pixel checkerboard of amplitude 0.2): the 25 % quantile
    # still reads the flat part, the mean of |residual| (Immerkaer's estimate) would not
    checker = (torch.arange(48)[:, None] + torch.arange(48)[None, :]) % 2 * 0.2
    x[1, :, :48, :48] += checker
    assert float(estimate_noise_sigma(x)[1]) < 1e-3
    assert float(estimate_noise_sigma(x, quantile=0.9)[1]) > 0.05


def test_noise_weight_is_a_clamped_ramp() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.cat([_smooth(), _smooth() + 0.01 * torch.randn(1, 3, 96, 96, generator=g)])
    weights = noise_weight(x, 0.002, 0.004).flatten().tolist()
    assert weights == [0.0, 1.0]
    sigma = float(estimate_noise_sigma(x)[1])
    middle = float(noise_weight(x[1:], sigma - 0.001, sigma + 0.001).flatten()[0])
    assert middle == pytest.approx(0.5, abs=1e-4)


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="quantile must be in \\(0, 1\\), got 1.5"):
        estimate_noise_sigma(_smooth(), quantile=1.5)
    with pytest.raises(ValueError, match="expected H, W >= 3, got \\(2, 8\\)"):
        estimate_noise_sigma(torch.rand(1, 3, 2, 8))


@pytest.mark.parametrize("quantile", [0.0, 0.25, 0.5, 0.999, 1.0])
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_row_quantile_equals_torch_quantile(quantile: float, n: int) -> None:
    x = torch.rand(3, n, generator=torch.Generator().manual_seed(n))
    assert torch.equal(_row_quantile(x, quantile), torch.quantile(x, quantile, dim=1))
