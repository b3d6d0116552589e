from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from lowlight.metrics.quality import measure_time, psnr_per_image, ssim_per_image


def _pair(seed: int, batch: int = 3, size: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    truth = torch.rand(batch, 3, size, size, generator=generator, dtype=torch.float64)
    noise = 0.1 * torch.randn(batch, 3, size, size, generator=generator, dtype=torch.float64)
    return (truth + noise).clamp(0, 1), truth


def test_psnr_per_image_closed_form() -> None:
    enhanced, truth = _pair(0)
    mse = ((enhanced.numpy() - truth.numpy()) ** 2).reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(psnr_per_image(enhanced, truth).numpy(), 10 * np.log10(1 / mse))


def test_psnr_identical_is_inf_and_clamps() -> None:
    truth = torch.rand(1, 3, 8, 8)
    assert psnr_per_image(truth, truth).item() == math.inf
    over = truth.clone()
    over[..., 0, 0] = 5.0
    clamped = over.clamp(0, 1)
    assert psnr_per_image(over, truth).item() == psnr_per_image(clamped, truth).item()


def _ssim_full_map_reference(enhanced: np.ndarray, truth: np.ndarray) -> float:
    """float64 SSIM averaged over the whole map, borders mirrored (torchmetrics' rule)."""

    def blur(image: np.ndarray) -> np.ndarray:
        return gaussian_filter(image, sigma=(0, 1.5, 1.5), mode="mirror", truncate=3.5)

    c1, c2 = 0.01**2, 0.03**2
    mu_e, mu_t = blur(enhanced), blur(truth)
    var_e = np.maximum(blur(enhanced**2) - mu_e**2, 0)
    var_t = np.maximum(blur(truth**2) - mu_t**2, 0)
    cov = blur(enhanced * truth) - mu_e * mu_t
    ssim_map = ((2 * mu_e * mu_t + c1) * (2 * cov + c2)) / (
        (mu_e**2 + mu_t**2 + c1) * (var_e + var_t + c2)
    )
    return float(ssim_map.mean())


def test_ssim_matches_float64_reference() -> None:
    enhanced, truth = _pair(1, batch=2, size=48)
    got = ssim_per_image(enhanced, truth)
    assert got.shape == (2,) and got.dtype == torch.float64
    for index in range(2):
        expected = _ssim_full_map_reference(enhanced[index].numpy(), truth[index].numpy())
        assert got[index].item() == pytest.approx(expected, abs=1e-5)


def test_ssim_matches_skimage_at_protocol_size() -> None:
    """skimage leaves out a 5-pixel border that torchmetrics averages in: ~5e-5 at 256 x 256."""
    enhanced, truth = _pair(2, batch=1, size=256)
    expected = structural_similarity(
        enhanced[0].numpy(), truth[0].numpy(), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0, channel_axis=0,
    )
    assert ssim_per_image(enhanced, truth).item() == pytest.approx(expected, abs=2e-4)


def test_ssim_identical_is_one() -> None:
    truth = torch.rand(2, 3, 32, 32)
    np.testing.assert_allclose(ssim_per_image(truth, truth).numpy(), 1.0, atol=1e-5)


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(ValueError, match=r"enhanced \(1, 3, 8, 8\) and truth \(1, 3, 8, 9\)"):
        psnr_per_image(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"truth: expected \(B, 3, H, W\)"):
        ssim_per_image(torch.rand(1, 3, 8, 8), torch.rand(3, 8, 8))


def test_measure_time_warms_up_once() -> None:
    calls = []
    stats = measure_time(lambda: calls.append(1), calls=5)
    assert len(calls) == 6 and stats.calls == 5
    assert stats.threads == torch.get_num_threads() and stats.median_s >= 0
    with pytest.raises(ValueError, match="calls must be > 0, got 0"):
        measure_time(lambda: None, calls=0)
