from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from lowlight.gp.kernels import (
    add_noise,
    augment_queries,
    augment_train,
    check_points,
    se_kernel,
    squared_distance,
    unit_se_from_augmented,
)


def unit_se_from_scaled(scaled_queries: torch.Tensor, scaled_train: torch.Tensor) -> torch.Tensor:
    """The fast cross-kernel's pieces, as :func:`lowlight.gp.exact.se_gp_predict` chains them."""
    return unit_se_from_augmented(augment_queries(scaled_queries), augment_train(scaled_train))


def se_cross_correlation(queries: torch.Tensor, train_x: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
    """The fast cross-kernel on raw points: centred on the training mean, divided by the lengthscale."""
    check_points(train_x, "train_x", batch=queries.shape[0], dim=queries.shape[2])
    train_x = train_x.to(queries.dtype)
    centre, inv_lengthscale = train_x.mean(1, keepdim=True), lengthscale.to(queries.dtype).reciprocal().unsqueeze(1)
    return unit_se_from_scaled((queries - centre) * inv_lengthscale, (train_x - centre) * inv_lengthscale)


def _points(batch: int, n: int, d: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, n, d, generator=generator, dtype=dtype)


@pytest.mark.parametrize("ard", [False, True])
def test_squared_distance_matches_scipy_weighted_cdist(ard: bool) -> None:
    x1, x2 = _points(2, 5, 3, seed=0), _points(2, 7, 3, seed=1)
    lengthscale = torch.tensor([[0.3, 0.7, 1.9], [0.5, 0.2, 1.1]], dtype=torch.float64)
    if not ard:
        lengthscale = lengthscale[:, :1]
    result = squared_distance(x1, x2, lengthscale)
    assert result.shape == (2, 5, 7)
    for b in range(2):
        scale = np.broadcast_to(lengthscale[b].numpy(), (3,))
        expected = cdist(x1[b].numpy() / scale, x2[b].numpy() / scale, "sqeuclidean")
        np.testing.assert_allclose(result[b].numpy(), expected, rtol=1e-12, atol=1e-14)


def test_squared_distance_is_exactly_zero_on_equal_points() -> None:
    x = _points(1, 6, 4, seed=2) * 1000.0
    result = squared_distance(x, x, torch.full((1, 1), 0.01, dtype=torch.float64))
    assert torch.equal(result.diagonal(dim1=1, dim2=2), torch.zeros(1, 6, dtype=torch.float64))


@pytest.mark.parametrize("ard", [False, True])
def test_se_kernel_matches_sklearn_and_gpytorch(ard: bool) -> None:
    gpytorch = pytest.importorskip("gpytorch")
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    x1, x2 = _points(1, 6, 3, seed=3), _points(1, 4, 3, seed=4)
    lengthscale = torch.tensor([[0.4, 0.9, 0.25]] if ard else [[0.6]], dtype=torch.float64)
    signal_variance = torch.tensor([1.7], dtype=torch.float64)
    result = se_kernel(x1, x2, lengthscale, signal_variance)[0].numpy()

    sk_lengthscale = lengthscale[0].numpy() if ard else float(lengthscale)
    expected_sklearn = (ConstantKernel(1.7) * RBF(sk_lengthscale))(x1[0].numpy(), x2[0].numpy())
    np.testing.assert_allclose(result, expected_sklearn, rtol=1e-12)

    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=3 if ard else None)).double()
    kernel.base_kernel.lengthscale = lengthscale[0] if ard else lengthscale[0, 0]
    kernel.outputscale = signal_variance[0]
    with torch.no_grad():
        expected_gpytorch = kernel(x1[0], x2[0]).to_dense().numpy()
    np.testing.assert_allclose(result, expected_gpytorch, rtol=1e-9)


@pytest.mark.parametrize("ard", [False, True])
def test_cross_correlation_matmul_form_matches_exact_form(ard: bool) -> None:
    queries, train_x = _points(3, 50, 4, seed=5), _points(3, 9, 4, seed=6)
    lengthscale = 0.2 + _points(1, 3, 4 if ard else 1, seed=7)[0]
    exact = torch.exp(-0.5 * squared_distance(queries, train_x, lengthscale))
    fast = se_cross_correlation(queries, train_x, lengthscale)
    assert fast.shape == (3, 50, 9)
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-13)


def test_cross_correlation_float32_is_close_even_far_from_the_origin() -> None:
    # centring on the training mean keeps |a|^2 - 2ab + |b|^2 from cancelling catastrophically
    queries, train_x = _points(1, 200, 9, seed=8) + 50.0, _points(1, 30, 9, seed=9) + 50.0
    lengthscale = torch.tensor([[0.5]], dtype=torch.float64)
    exact = torch.exp(-0.5 * squared_distance(queries, train_x, lengthscale))
    fast = se_cross_correlation(queries.float(), train_x.float(), lengthscale.float())
    assert fast.dtype == torch.float32
    assert (fast.double() - exact).abs().max() < 1e-5
    assert fast.max() <= 1.0


def test_cross_correlation_in_place_and_autograd_paths_agree() -> None:
    queries, train_x = _points(2, 20, 3, seed=10), _points(2, 5, 3, seed=11)
    lengthscale = torch.tensor([[0.3], [0.8]], dtype=torch.float64)
    with torch.no_grad():
        in_place = se_cross_correlation(queries, train_x, lengthscale)
    recorded = se_cross_correlation(queries.requires_grad_(), train_x, lengthscale)
    assert recorded.requires_grad
    torch.testing.assert_close(recorded.detach(), in_place, rtol=0, atol=0)


def test_unit_se_from_scaled_is_one_on_equal_points() -> None:
    scaled = _points(1, 8, 5, seed=12)
    result = unit_se_from_scaled(scaled, scaled)
    ones = torch.ones(1, 8, dtype=torch.float64)
    torch.testing.assert_close(result.diagonal(dim1=1, dim2=2), ones, rtol=0, atol=1e-15)


@pytest.mark.parametrize("ard", [False, True])
def test_kernel_gradients(ard: bool) -> None:
    x1, x2 = _points(2, 4, 3, seed=13).requires_grad_(), _points(2, 5, 3, seed=14).requires_grad_()
    log_lengthscale = (torch.rand(2, 3 if ard else 1, dtype=torch.float64) - 1.0).requires_grad_()
    log_signal_variance = torch.zeros(2, dtype=torch.float64, requires_grad=True)

    def exact(a, b, log_l, log_s2):
        return se_kernel(a, b, log_l.exp(), log_s2.exp())

    def fast(a, b, log_l):
        return se_cross_correlation(a, b, log_l.exp())

    assert torch.autograd.gradcheck(exact, (x1, x2, log_lengthscale, log_signal_variance))
    assert torch.autograd.gradcheck(fast, (x1, x2, log_lengthscale))


def test_add_noise_adds_to_the_diagonal_only() -> None:
    kernel = _points(2, 4, 4, seed=15)
    noisy = add_noise(kernel, torch.tensor([0.5, 2.0], dtype=torch.float64))
    expected = kernel.clone()
    expected[0] += 0.5 * torch.eye(4, dtype=torch.float64)
    expected[1] += 2.0 * torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(noisy, expected, rtol=0, atol=0)


def test_kernel_error_paths() -> None:
    x = _points(2, 4, 3, seed=16)
    good = torch.ones(2, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"lengthscale: expected \(2, 1\) or \(2, 3\), got \(2, 2\)"):
        squared_distance(x, x, torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="lengthscale must be finite and > 0"):
        squared_distance(x, x, torch.tensor([[1.0], [0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x2: expected last dimension 3, got \(2, 4, 2\)"):
        squared_distance(x, x[..., :2], good)
    with pytest.raises(ValueError, match=r"x1: expected \(B, n, d\), got \(4, 3\)"):
        squared_distance(x[0], x[0], good)
    with pytest.raises(ValueError, match=r"train_x: expected batch size 2, got \(1, 4, 3\)"):
        se_cross_correlation(x, x[:1], good)
    with pytest.raises(ValueError, match="signal_variance must be finite and > 0"):
        se_kernel(x, x, good, torch.tensor([1.0, -1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"signal_variance: expected \(2,\), got \(1,\)"):
        se_kernel(x, x, good, torch.ones(1, dtype=torch.float64))
    with pytest.raises(TypeError, match="expected a floating tensor"):
        squared_distance(x.long(), x.long(), good)
    with pytest.raises(ValueError, match=r"noise_variance: expected \(2,\), got \(3,\)"):
        add_noise(torch.zeros(2, 4, 4), torch.ones(3))
    with pytest.raises(ValueError, match=r"kernel: expected \(B, k, k\), got \(2, 4, 3\)"):
        add_noise(torch.zeros(2, 4, 3), torch.ones(2))
