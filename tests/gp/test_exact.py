from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from lowlight.gp.exact import (
    CholeskyOptions,
    negative_log_marginal_likelihood,
    robust_cholesky,
    se_gp_condition,
    se_gp_posterior,
    se_gp_predict,
)
from lowlight.gp.hyperparameters import SEHyperparameters
from lowlight.gp.kernels import se_kernel

F64 = torch.float64


def _data(
    batch: int, k: int, m: int, d_in: int, d_out: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs in [0, 1], smooth targets plus noise, and queries."""
    generator = torch.Generator().manual_seed(seed)
    train_x = torch.rand(batch, k, d_in, generator=generator, dtype=F64)
    weights = torch.randn(batch, d_in, d_out, generator=generator, dtype=F64)
    noise = torch.randn(batch, k, d_out, generator=generator, dtype=F64)
    train_y = torch.sin(3.0 * train_x @ weights) + 0.05 * noise
    queries = torch.rand(batch, m, d_in, generator=generator, dtype=F64)
    return train_x, train_y, queries


def _hyperparameters(batch: int, d_in: int, d_out: int, ard: bool, mean: float = 0.0) -> SEHyperparameters:
    lengthscale = torch.linspace(0.3, 0.9, d_in, dtype=F64) if ard else torch.tensor([0.45], dtype=F64)
    return SEHyperparameters(
        lengthscale=lengthscale.expand(batch, -1).clone(),
        signal_variance=torch.full((batch,), 0.8, dtype=F64),
        noise_variance=torch.full((batch,), 0.02, dtype=F64),
        mean=torch.full((batch, d_out), mean, dtype=F64),
    )


@pytest.mark.parametrize("ard", [False, True])
def test_posterior_matches_sklearn(ard: bool) -> None:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    train_x, train_y, queries = _data(1, 25, 40, 3, 1, seed=0)
    hp = _hyperparameters(1, 3, 1, ard, mean=0.3)
    mean, variance_with_noise = se_gp_posterior(
        train_x, train_y, queries, hp, return_variance=True, include_noise=True
    )
    _, latent_variance = se_gp_posterior(train_x, train_y, queries, hp, return_variance=True)

    lengthscale = hp.lengthscale[0].numpy() if ard else float(hp.lengthscale)
    kernel = ConstantKernel(0.8, "fixed") * RBF(lengthscale, "fixed") + WhiteKernel(0.02, "fixed")
    # alpha=0: no extra diagonal term beyond the WhiteKernel; our constant mean is subtracted first
    regressor = GaussianProcessRegressor(kernel=kernel, alpha=0.0, optimizer=None, normalize_y=False)
    regressor.fit(train_x[0].numpy(), train_y[0, :, 0].numpy() - 0.3)
    expected_mean, expected_std = regressor.predict(queries[0].numpy(), return_std=True)
    np.testing.assert_allclose(mean[0, :, 0].numpy(), expected_mean + 0.3, rtol=0, atol=1e-9)
    # sklearn's std uses kernel.diag(X), which includes the WhiteKernel: the noisy predictive variance
    np.testing.assert_allclose(variance_with_noise[0].numpy(), expected_std**2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(latent_variance[0].numpy(), expected_std**2 - 0.02, rtol=0, atol=1e-9)


def _gpytorch_model(train_x: torch.Tensor, train_y: torch.Tensor, hp: SEHyperparameters, ard: bool):
    gpytorch = pytest.importorskip("gpytorch")

    class Model(gpytorch.models.ExactGP):
        def __init__(self, likelihood) -> None:
            super().__init__(train_x, train_y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(
                gpytorch.kernels.RBFKernel(ard_num_dims=train_x.shape[-1] if ard else None)
            )

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    noise_constraint = gpytorch.constraints.GreaterThan(1e-8)
    likelihood = gpytorch.likelihoods.GaussianLikelihood(noise_constraint=noise_constraint).double()
    model = Model(likelihood).double()
    model.covar_module.base_kernel.lengthscale = hp.lengthscale[0] if ard else hp.lengthscale[0, 0]
    model.covar_module.outputscale = hp.signal_variance[0]
    likelihood.noise = hp.noise_variance[0]
    model.mean_module.constant = hp.mean[0, 0]
    return gpytorch, model, likelihood


@pytest.mark.parametrize("ard", [False, True])
def test_posterior_and_nll_match_gpytorch(ard: bool) -> None:
    train_x, train_y, queries = _data(1, 30, 35, 4, 1, seed=1)
    hp = _hyperparameters(1, 4, 1, ard, mean=-0.2)
    gpytorch, model, likelihood = _gpytorch_model(train_x[0], train_y[0, :, 0], hp, ard)

    model.train()
    likelihood.train()
    with torch.no_grad():
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
        gpytorch_nll = -mll(model(train_x[0]), train_y[0, :, 0]) * train_x.shape[1]  # it divides by k
    nll = negative_log_marginal_likelihood(train_x, train_y, hp)[0]
    torch.testing.assert_close(nll, gpytorch_nll, rtol=0, atol=1e-8)

    model.eval()
    likelihood.eval()
    exact = (gpytorch.settings.fast_pred_var(False), gpytorch.settings.max_cholesky_size(10**6))
    with torch.no_grad(), exact[0], exact[1]:
        latent = model(queries[0])
        observed = likelihood(latent)
        expected = (latent.mean, latent.variance, observed.variance)
    mean, latent_variance = se_gp_posterior(train_x, train_y, queries, hp, return_variance=True)
    _, observed_variance = se_gp_posterior(
        train_x, train_y, queries, hp, return_variance=True, include_noise=True
    )
    for ours, theirs in zip((mean[0, :, 0], latent_variance[0], observed_variance[0]), expected):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_multi_output_nll_matches_scipy_closed_form() -> None:
    train_x, train_y, _ = _data(2, 12, 1, 2, 3, seed=2)
    hp = _hyperparameters(2, 2, 3, ard=True)
    hp.mean = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]], dtype=F64)
    hp.noise_variance = torch.tensor([0.02, 0.1], dtype=F64)
    nll = negative_log_marginal_likelihood(train_x, train_y, hp)
    for b in range(2):
        x = train_x[b : b + 1]
        covariance = se_kernel(x, x, hp.lengthscale[b : b + 1], hp.signal_variance[b : b + 1])[0]
        covariance = covariance.numpy() + hp.noise_variance[b].item() * np.eye(12)
        expected = -sum(
            multivariate_normal(np.full(12, hp.mean[b, o].item()), covariance).logpdf(train_y[b, :, o].numpy())
            for o in range(3)
        )
        assert math.isclose(nll[b].item(), expected, rel_tol=1e-10)


def test_batched_equals_per_image_and_chunked_equals_unchunked() -> None:
    train_x, train_y, queries = _data(3, 15, 50, 3, 2, seed=3)
    hp = _hyperparameters(3, 3, 2, ard=True, mean=0.1)
    hp.lengthscale = hp.lengthscale * torch.tensor([[1.0], [0.5], [2.0]], dtype=F64)
    hp.noise_variance = torch.tensor([0.01, 0.05, 0.2], dtype=F64)
    mean, variance = se_gp_posterior(train_x, train_y, queries, hp, return_variance=True, chunk_size=10**6)
    assert mean.shape == (3, 50, 2) and variance.shape == (3, 50)
    for b in range(3):
        one = SEHyperparameters(*(t[b : b + 1] for t in hp.tensors()))
        data_b = (train_x[b : b + 1], train_y[b : b + 1], queries[b : b + 1])
        mean_b, variance_b = se_gp_posterior(*data_b, one, return_variance=True)
        torch.testing.assert_close(mean[b], mean_b[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(variance[b], variance_b[0], rtol=0, atol=1e-12)
    for chunk_size in (1, 7, 50):
        chunked_mean, chunked_variance = se_gp_posterior(
            train_x, train_y, queries, hp, return_variance=True, chunk_size=chunk_size
        )
        torch.testing.assert_close(chunked_mean, mean, rtol=0, atol=1e-12)
        torch.testing.assert_close(chunked_variance, variance, rtol=0, atol=1e-12)


def test_posterior_interpolates_noise_free_data_and_has_zero_variance_there() -> None:
    train_x, train_y, _ = _data(1, 10, 1, 2, 1, seed=4)
    hp = _hyperparameters(1, 2, 1, ard=False)
    hp.noise_variance = torch.zeros(1, dtype=F64)
    mean, variance = se_gp_posterior(train_x, train_y, train_x, hp, return_variance=True)
    torch.testing.assert_close(mean, train_y, rtol=0, atol=1e-6)
    assert variance.abs().max() < 1e-6


def test_jitter_retry_on_duplicate_points_without_noise() -> None:
    train_x, train_y, queries = _data(2, 8, 20, 2, 1, seed=5)
    train_x[0, 4:] = train_x[0, :4]  # element 0: every point twice, the kernel is singular
    train_y[0, 4:] = train_y[0, :4]
    hp = _hyperparameters(2, 2, 1, ard=False)
    hp.noise_variance = torch.tensor([0.0, 0.05], dtype=F64)
    state = se_gp_condition(train_x, train_y, hp)
    assert state.jitter[0] > 0 and state.jitter[1] == 0
    mean, variance = se_gp_predict(state, torch.cat([queries, train_x], 1), return_variance=True)
    assert torch.isfinite(mean).all() and torch.isfinite(variance).all()
    # the duplicates carry the same target, so the jittered GP still goes through them
    torch.testing.assert_close(mean[0, 20:], train_y[0], rtol=0, atol=1e-4)


def test_robust_cholesky_errors() -> None:
    with pytest.raises(torch.linalg.LinAlgError, match=r"batch elements \[1\]"):
        robust_cholesky(torch.stack([torch.eye(3), -torch.eye(3)]).double())
    with pytest.raises(ValueError, match="non-finite"):
        robust_cholesky(torch.full((1, 2, 2), math.nan))
    with pytest.raises(ValueError, match=r"expected \(B, k, k\), got \(2, 3\)"):
        robust_cholesky(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="jitter_growth must be > 1"):
        CholeskyOptions(jitter_growth=1.0)
    factor, jitter = robust_cholesky(torch.eye(3, dtype=F64).unsqueeze(0) * 2.0)
    torch.testing.assert_close(factor[0], math.sqrt(2.0) * torch.eye(3, dtype=F64))
    assert jitter.tolist() == [0.0]


def test_float32_inputs_give_float32_outputs_close_to_float64() -> None:
    train_x, train_y, queries = _data(2, 40, 300, 9, 2, seed=6)
    hp = _hyperparameters(2, 9, 2, ard=False, mean=0.2)
    hp.lengthscale = torch.full((2, 1), 1.2, dtype=F64)
    mean64, variance64 = se_gp_posterior(train_x, train_y, queries, hp, return_variance=True)
    mean32, variance32 = se_gp_posterior(
        train_x.float(), train_y.float(), queries.float(), hp.to(dtype=torch.float32), return_variance=True
    )
    assert mean32.dtype == torch.float32 and variance32.dtype == torch.float32
    assert (mean32.double() - mean64).abs().max() < 1e-4
    assert (variance32.double() - variance64).abs().max() < 1e-5
    nll32 = negative_log_marginal_likelihood(train_x.float(), train_y.float(), hp.to(dtype=torch.float32))
    assert nll32.dtype == torch.float32


def test_empty_queries() -> None:
    train_x, train_y, queries = _data(2, 5, 0, 3, 2, seed=7)
    hp = _hyperparameters(2, 3, 2, ard=False)
    mean, variance = se_gp_posterior(train_x, train_y, queries, hp, return_variance=True)
    assert mean.shape == (2, 0, 2) and variance.shape == (2, 0)


@pytest.mark.parametrize("ard", [False, True])
def test_gradcheck_posterior_and_nll(ard: bool) -> None:
    train_x, train_y, queries = _data(2, 5, 4, 2, 2, seed=8)
    hp = _hyperparameters(2, 2, 2, ard, mean=0.1)
    log_parameters = [t.clone().requires_grad_() for t in hp.log_parameters()]
    inputs = (train_x.requires_grad_(), train_y.requires_grad_(), queries.requires_grad_(), *log_parameters)

    def posterior(x, y, q, log_l, log_s2, log_noise):
        params = SEHyperparameters.from_log(log_l, log_s2, log_noise, hp.mean)
        return se_gp_posterior(x, y, q, params, return_variance=True, include_noise=True, chunk_size=3)

    def nll(x, y, q, log_l, log_s2, log_noise):
        params = SEHyperparameters.from_log(log_l, log_s2, log_noise, hp.mean)
        return negative_log_marginal_likelihood(x, y, params)

    assert torch.autograd.gradcheck(posterior, inputs)
    assert torch.autograd.gradcheck(nll, inputs)


def test_error_paths() -> None:
    train_x, train_y, queries = _data(2, 5, 4, 3, 1, seed=9)
    hp = _hyperparameters(2, 3, 1, ard=False)
    with pytest.raises(ValueError, match="different numbers of points"):
        se_gp_posterior(train_x, train_y[:, :4], queries, hp)
    with pytest.raises(ValueError, match=r"queries: expected last dimension 3, got \(2, 4, 2\)"):
        se_gp_posterior(train_x, train_y, queries[..., :2], hp)
    with pytest.raises(ValueError, match=r"train_y: expected batch size 2, got \(1, 5, 1\)"):
        se_gp_posterior(train_x, train_y[:1], queries, hp)
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        se_gp_posterior(train_x, train_y, queries, hp, chunk_size=0)
    with pytest.raises(ValueError, match="need at least one training point"):
        se_gp_posterior(train_x[:, :0], train_y[:, :0], queries, hp)
    bad_signal = replace(hp, signal_variance=torch.tensor([1.0, 0.0], dtype=F64))
    with pytest.raises(ValueError, match=r"signal_variance must be finite and > 0, got \[1.0, 0.0\]"):
        se_gp_posterior(train_x, train_y, queries, bad_signal)
    bad_noise = replace(hp, noise_variance=torch.tensor([-1e-3, 0.1], dtype=F64))
    with pytest.raises(ValueError, match="noise_variance must be finite and >= 0"):
        se_gp_posterior(train_x, train_y, queries, bad_noise)
    bad_lengthscale = replace(hp, lengthscale=-hp.lengthscale)
    with pytest.raises(ValueError, match="lengthscale must be finite and > 0"):
        se_gp_posterior(train_x, train_y, queries, bad_lengthscale)
    bad_mean = replace(hp, mean=torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"mean: expected \(2, 1\), got \(2, 3\)"):
        se_gp_posterior(train_x, train_y, queries, bad_mean)
    with pytest.raises(ValueError, match=r"lengthscale: expected \(2, 1\) or \(2, 3\), got \(2, 2\)"):
        se_gp_posterior(train_x, train_y, queries, _hyperparameters(2, 2, 1, ard=True))
