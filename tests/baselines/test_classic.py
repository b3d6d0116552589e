from __future__ import annotations

import math

import cv2
import kornia
import numpy as np
import pytest
import torch

from lowlight.baselines.classic import (
    LimeOptions,
    auto_gamma,
    auto_gamma_exponent,
    clahe,
    dark,
    equalize_luma,
    histogram_equalization,
    initial_illumination,
    lime,
    lime_system,
    lime_weights,
    refine_illumination,
)
from lowlight.ops.color import rgb_to_luma, rgb_to_ycbcr

ALL_BASELINES = [dark, auto_gamma, histogram_equalization, clahe, lime]


def _dark_image(seed: int, size: int = 24) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, size, size, generator=generator) ** 3 * 0.4  # (2, 3, S, S) dark


@pytest.mark.parametrize("baseline", ALL_BASELINES, ids=lambda f: f.__name__)
def test_shape_range_dtype(baseline) -> None:
    x = _dark_image(0)
    y = baseline(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert 0.0 <= y.min() and y.max() <= 1.0


@pytest.mark.parametrize("baseline", ALL_BASELINES, ids=lambda f: f.__name__)
def test_rejects_wrong_shape(baseline) -> None:
    with pytest.raises(ValueError, match=r"x: expected \(B, 3, H, W\), got \(1, 1, 8, 8\)"):
        baseline(torch.rand(1, 1, 8, 8))


def test_dark_is_a_copy() -> None:
    x = _dark_image(1)
    y = dark(x)
    assert torch.equal(x, y) and y.data_ptr() != x.data_ptr()


def test_auto_gamma_hand_computation() -> None:
    grey = torch.full((1, 3, 6, 6), 0.1)
    expected_gamma = math.log(0.1) / math.log(0.4)
    assert auto_gamma_exponent(grey).item() == pytest.approx(expected_gamma, rel=1e-6)
    torch.testing.assert_close(auto_gamma(grey), torch.full_like(grey, 0.4))
    bright = torch.full((1, 3, 6, 6), 0.55)
    assert auto_gamma_exponent(bright).item() == 1.0
    torch.testing.assert_close(auto_gamma(bright), bright)


def test_auto_gamma_median_is_numpys() -> None:
    x = _dark_image(2, size=10)  # 100 pixels: an even count, the median averages two values
    luma = rgb_to_luma(x).flatten(1).double().numpy()
    expected = np.maximum(1.0, np.log(np.median(luma, axis=1)) / np.log(0.4))
    np.testing.assert_allclose(auto_gamma_exponent(x).numpy(), expected, rtol=1e-5)


def test_auto_gamma_black_median_is_finite() -> None:
    x = torch.zeros(1, 3, 4, 4)
    x[..., 0, 0] = 0.02
    assert auto_gamma_exponent(x).item() == pytest.approx(math.log(1 / 255) / math.log(0.4))
    assert torch.isfinite(auto_gamma(x)).all() and auto_gamma(x)[0, 0, 1, 1] == 0.0


def test_auto_gamma_gradcheck() -> None:
    x = (torch.rand(1, 3, 3, 3, dtype=torch.float64) * 0.3 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(auto_gamma, (x,))


def test_equalize_luma_matches_opencv() -> None:
    rng = np.random.default_rng(0)
    levels = np.clip(rng.normal(40, 12, (2, 1, 20, 30)), 0, 255).round().astype(np.uint8)
    got = equalize_luma(torch.from_numpy(levels).float() / 255)
    for index in range(2):
        expected = cv2.equalizeHist(levels[index, 0]).astype(np.float32) / 255
        np.testing.assert_allclose(got[index, 0].numpy(), expected, atol=1e-7)


def test_equalize_luma_constant_unchanged() -> None:
    constant = torch.full((1, 1, 5, 5), 77 / 255)
    torch.testing.assert_close(equalize_luma(constant), constant)


def test_histogram_equalization_of_grey_is_equalized_luma() -> None:
    grey = _dark_image(3)[:, :1].expand(-1, 3, -1, -1)  # (2, 3, S, S), R = G = B
    expected = equalize_luma(rgb_to_luma(grey)).expand(-1, 3, -1, -1)
    torch.testing.assert_close(histogram_equalization(grey), expected, atol=1e-6, rtol=0)


def test_clahe_works_on_luma_and_keeps_chroma() -> None:
    x = _dark_image(4, size=32) + 0.05
    y = clahe(x)
    expected_luma = kornia.enhance.equalize_clahe(rgb_to_luma(x), clip_limit=2.0, grid_size=(8, 8))
    # Where no RGB channel had to be clipped, Y is the equalised luma and Cb/Cr are unchanged.
    unclamped = (y > 0.001).all(dim=1) & (y < 0.999).all(dim=1)  # (B, H, W)
    assert unclamped.float().mean() > 0.5
    luma_diff = (rgb_to_luma(y) - expected_luma)[:, 0][unclamped]
    assert luma_diff.abs().max() < 1e-5
    chroma_in, chroma_out = rgb_to_ycbcr(x)[:, 1:], rgb_to_ycbcr(y)[:, 1:]
    diff = (chroma_in - chroma_out).abs().amax(dim=1)[unclamped]
    assert diff.max() < 1e-5


def test_lime_uniform_light_brightens_by_inverse_power() -> None:
    """Colours whose largest channel is 1, lit by a constant c: T = c, output c ** (1 - 0.8) G."""
    generator = torch.Generator().manual_seed(5)
    colours = torch.rand(1, 3, 12, 12, generator=generator, dtype=torch.float64)
    colours = colours / colours.amax(dim=1, keepdim=True)
    for c in (0.05, 0.3):
        out = lime(c * colours)
        torch.testing.assert_close(out, c**0.2 * colours, atol=1e-9, rtol=0)
        assert (out > c * colours).all() or c == 1.0


@pytest.mark.parametrize("sigma", [2.0, None], ids=["strategy3", "strategy2"])
def test_lime_solution_minimises_its_energy(sigma: float | None) -> None:
    options = LimeOptions(sigma=sigma)
    x = _dark_image(6, size=14)[:1].double()
    t_hat = initial_illumination(x)  # (1, 1, H, W)
    matrix, rhs = lime_system(t_hat, options)
    t = refine_illumination(t_hat, options)
    residual = np.linalg.norm(matrix @ t.flatten().numpy() - rhs) / np.linalg.norm(rhs)
    assert residual < 1e-10
    # Independent check: the gradient of the quadratic energy, written with torch.diff, is zero.
    weights_x, weights_y = lime_weights(t_hat, options)

    def energy(candidate: torch.Tensor) -> torch.Tensor:
        smooth = (weights_x * torch.diff(candidate, dim=-1) ** 2).sum()
        smooth = smooth + (weights_y * torch.diff(candidate, dim=-2) ** 2).sum()
        return ((candidate - t_hat) ** 2).sum() + options.alpha * smooth

    t = t.clone().requires_grad_()
    (grad_at_solution,) = torch.autograd.grad(energy(t), t)
    start = t_hat.clone().requires_grad_()
    (grad_at_start,) = torch.autograd.grad(energy(start), start)
    assert grad_at_solution.norm() < 1e-8 * grad_at_start.norm()


def test_lime_weights_strategy2_closed_form() -> None:
    t_hat = torch.tensor([[[[0.1, 0.3, 0.3], [0.2, 0.2, 0.6]]]], dtype=torch.float64)
    eps = 1e-3
    weights_x, weights_y = lime_weights(t_hat, LimeOptions(sigma=None, eps=eps))
    grad_x = np.array([[0.2, 0.0], [0.0, 0.4]])
    grad_y = np.array([[0.1, -0.1, 0.3]])
    np.testing.assert_allclose(weights_x[0, 0].numpy(), 1 / (np.abs(grad_x) + eps) ** 2)
    np.testing.assert_allclose(weights_y[0, 0].numpy(), 1 / (np.abs(grad_y) + eps) ** 2)


def test_lime_keeps_edges() -> None:
    """The smoothing pulls the two levels together but keeps the jump at the edge."""
    step = torch.full((1, 3, 16, 16), 0.04)
    step[..., 8:] = 0.25  # a vertical edge between columns 7 and 8
    illumination = refine_illumination(initial_illumination(step))[0, 0, 8]  # one row, (16,)
    out = lime(step)[0, 0, 8]
    for profile in (illumination, out):
        total = profile[-1] - profile[0]
        assert total > 0.03
        assert profile[8] - profile[7] > 0.9 * total  # not smeared over neighbouring columns


def test_lime_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="options.alpha must be > 0, got -1"):
        lime(_dark_image(7), LimeOptions(alpha=-1))
