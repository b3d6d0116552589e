"""smooth_noise against a float64 guided filter written out window by window."""

from __future__ import annotations

import kornia.filters
import pytest
import torch

from lowlight.ops.noise_smoothing import smooth_noise


def _guided_filter_loops(x: torch.Tensor, eps: float, radius: int) -> torch.Tensor:
    """He et al.'s self-guided filter on one (H, W) float64 plane, windows clipped by reflection."""
    h, w = x.shape
    padded = torch.nn.functional.pad(x[None, None], (radius,) * 4, mode="reflect")[0, 0]
    a = torch.empty(h, w, dtype=torch.float64)
    b = torch.empty(h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            window = padded[i : i + 2 * radius + 1, j : j + 2 * radius + 1]
            mean, var = window.mean(), window.var(unbiased=False)
            a[i, j] = var / (var + eps)
            b[i, j] = mean - a[i, j] * mean
    a_pad = torch.nn.functional.pad(a[None, None], (radius,) * 4, mode="reflect")[0, 0]
    b_pad = torch.nn.functional.pad(b[None, None], (radius,) * 4, mode="reflect")[0, 0]
    out = torch.empty(h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            size = 2 * radius + 1
            out[i, j] = a_pad[i : i + size, j : j + size].mean() * x[i, j] + b_pad[i : i + size, j : j + size].mean()
    return out


def test_matches_the_filter_written_out() -> None:
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = torch.tensor([0.01, 0.2], dtype=torch.float64)
    out = smooth_noise(x, sigma, floor=0.05)
    for image, s in enumerate((0.05, 0.2)):  # the first image's sigma is below the floor
        for channel in range(3):
            expected = _guided_filter_loops(x[image, channel], s**2, 1).clamp(0, 1)
            torch.testing.assert_close(out[image, channel], expected, rtol=1e-10, atol=1e-10)


def test_equals_kornia_per_channel_in_any_strips() -> None:
    x = torch.rand(2, 3, 23, 17, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.02, 0.0])
    eps = sigma.clamp_min(1 / 255).square()
    expected = torch.cat([kornia.filters.guided_blur(x[:, c : c + 1], x[:, c : c + 1], 5, eps) for c in range(3)],
                         dim=1).clamp(0, 1)
    for rows in (1, 4, 23, 64):
        torch.testing.assert_close(smooth_noise(x, sigma, 1 / 255, radius=2, rows_per_strip=rows), expected,
                                   rtol=0, atol=1e-6)


def test_smooths_noise_and_keeps_edges() -> None:
    gen = torch.Generator().manual_seed(1)
    step = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    step[..., 16:] = 0.6
    noisy = (step + 0.01 * torch.randn(step.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    out = smooth_noise(noisy, torch.tensor([0.01], dtype=torch.float64), floor=1 / 255)
    flat = (slice(None), slice(None), slice(2, 30), slice(2, 13))
    assert float(out[flat].std()) < 0.5 * float(noisy[flat].std())  # the noise is averaged
    assert float((out - step)[..., 14:18].abs().mean()) < 0.02  # the 0.6 step is not blurred


def test_errors() -> None:
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"sigma must be \(B,\) = \(1,\), got \(1, 1, 1, 1\)"):
        smooth_noise(x, torch.zeros(1, 1, 1, 1), floor=0.01)
    with pytest.raises(ValueError, match="floor must be > 0, got 0"):
        smooth_noise(x, torch.zeros(1), floor=0)
    with pytest.raises(ValueError, match="radius and rows_per_strip must be >= 1, got 0, 3"):
        smooth_noise(x, torch.zeros(1), floor=0.01, radius=0, rows_per_strip=3)
    with pytest.raises(ValueError, match="larger than 2 radius = 8 on each side, got 8 x 8"):
        smooth_noise(x, torch.zeros(1), floor=0.01, radius=4)
