from __future__ import annotations

import pytest
import torch

from lowlight.gp.exact import negative_log_marginal_likelihood
from lowlight.gp.hyperparameters import SEHyperparameters, heuristic_hyperparameters
from lowlight.gp.kernels import se_kernel
from lowlight.gp.marginal_likelihood import (
    MarginalLikelihoodOptions,
    maximise_marginal_likelihood,
)

F64 = torch.float64
TRUE_LENGTHSCALE = 0.3


def _gp_samples(batch: int, k: int, d_in: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets drawn from a known GP: unit signal variance, lengthscale 0.3, noise 0.01."""
    generator = torch.Generator().manual_seed(seed)
    train_x = torch.rand(batch, k, d_in, generator=generator, dtype=F64)
    lengthscale = torch.full((batch, 1), TRUE_LENGTHSCALE, dtype=F64)
    covariance = se_kernel(train_x, train_x, lengthscale, torch.ones(batch, dtype=F64))
    covariance = covariance + 0.01 * torch.eye(k, dtype=F64)
    train_y = torch.linalg.cholesky(covariance) @ torch.randn(batch, k, 1, generator=generator, dtype=F64)
    return train_x, train_y


def test_fit_lowers_the_nll_and_recovers_the_lengthscale() -> None:
    train_x, train_y = _gp_samples(4, 60, 2, seed=0)
    init = heuristic_hyperparameters(train_x, train_y)
    result = maximise_marginal_likelihood(train_x, train_y, init, MarginalLikelihoodOptions(steps=30))
    torch.testing.assert_close(result.initial_nll, negative_log_marginal_likelihood(train_x, train_y, init))
    final_nll = negative_log_marginal_likelihood(train_x, train_y, result.hyperparameters)
    torch.testing.assert_close(result.final_nll, final_nll)
    assert (result.final_nll < result.initial_nll - 10.0).all()
    fitted = result.hyperparameters
    # a 60-point draw pins the lengthscale down to about +-30 % (0.72..1.18 x over 16 draws)
    ratio = fitted.lengthscale / TRUE_LENGTHSCALE
    assert ((ratio > 0.6) & (ratio < 1.6)).all(), fitted.lengthscale
    assert ((fitted.noise_variance / 0.01).log().abs() < 1.0).all(), fitted.noise_variance
    assert torch.equal(fitted.mean, init.mean)  # the mean is not fitted


def test_batched_adam_fit_equals_per_image_fits() -> None:
    # Adam's steps are elementwise and the images' NLLs are independent terms of the sum
    train_x, train_y = _gp_samples(3, 30, 2, seed=1)
    init = heuristic_hyperparameters(train_x, train_y)
    options = MarginalLikelihoodOptions(steps=15)
    batched = maximise_marginal_likelihood(train_x, train_y, init, options).hyperparameters
    for b in range(3):
        one = SEHyperparameters(*(t[b : b + 1] for t in init.tensors()))
        alone = maximise_marginal_likelihood(train_x[b : b + 1], train_y[b : b + 1], one, options).hyperparameters
        for ours, reference in zip(batched.tensors(), alone.tensors()):
            torch.testing.assert_close(ours[b : b + 1], reference, rtol=1e-9, atol=1e-12)


def test_fit_respects_the_noise_floor_and_keeps_dtype() -> None:
    train_x, train_y = _gp_samples(1, 20, 1, seed=2)
    # noise-free targets drawn from a smooth function: the NLL keeps falling as the noise goes to 0
    train_y = torch.sin(4.0 * train_x)
    init = heuristic_hyperparameters(train_x.float(), train_y.float())
    options = MarginalLikelihoodOptions(steps=60, learning_rate=0.3, min_noise_variance=1e-4)
    result = maximise_marginal_likelihood(train_x.float(), train_y.float(), init, options)
    assert result.hyperparameters.noise_variance.dtype == torch.float32
    assert result.hyperparameters.noise_variance.item() >= 1e-4 * (1 - 1e-6)
    assert result.final_nll.item() < result.initial_nll.item()


def test_zero_steps_returns_the_start() -> None:
    train_x, train_y = _gp_samples(2, 10, 2, seed=3)
    init = heuristic_hyperparameters(train_x, train_y)
    result = maximise_marginal_likelihood(train_x, train_y, init, MarginalLikelihoodOptions(steps=0))
    torch.testing.assert_close(result.hyperparameters.lengthscale, init.lengthscale)
    torch.testing.assert_close(result.final_nll, result.initial_nll)


def test_fit_error_paths() -> None:
    with pytest.raises(ValueError, match="learning_rate must be > 0, got 0.0"):
        MarginalLikelihoodOptions(learning_rate=0.0)
    with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
        MarginalLikelihoodOptions(steps=-1)
    with pytest.raises(ValueError, match="min_noise_variance must be > 0"):
        MarginalLikelihoodOptions(min_noise_variance=0.0)
    train_x, train_y = _gp_samples(2, 10, 2, seed=4)
    init = heuristic_hyperparameters(train_x, train_y)
    with pytest.raises(ValueError, match=r"lengthscale: expected \(1, 1\) or \(1, 2\), got \(2, 1\)"):
        maximise_marginal_likelihood(train_x[:1], train_y[:1], init)
