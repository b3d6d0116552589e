from __future__ import annotations

import math

import pytest
import torch

from lowlight.gp.exact import se_gp_posterior
from lowlight.gp.head import GPHead
from lowlight.gp.hyperparameters import SEHyperparameters

F64 = torch.float64


def _data(batch: int, seed: int, k: int = 12, m: int = 30, d_in: int = 3, d_out: int = 2):
    generator = torch.Generator().manual_seed(seed)
    train_x = torch.rand(batch, k, d_in, generator=generator)
    train_y = torch.sin(4.0 * train_x[..., :d_out]) + 0.3
    queries = torch.rand(batch, m, d_in, generator=generator)
    return train_x, train_y, queries


def test_head_equals_functional_posterior_with_grouped_hyperparameters() -> None:
    # 2 images x 3 channel groups, laid out group-fastest as from an (N, G, ...) reshape
    train_x, train_y, queries = _data(6, seed=0)
    head = GPHead(
        lengthscale=torch.tensor([[0.3], [0.6], [1.2]]),
        signal_variance=torch.tensor([0.5, 1.0, 2.0]),
        noise_variance=0.02,
        n_groups=3,
    )
    mean, variance = head(train_x, train_y, queries, return_variance=True)
    assert mean.shape == (6, 30, 2) and variance.shape == (6, 30)
    group = torch.arange(6) % 3
    expected_hp = SEHyperparameters(
        lengthscale=torch.tensor([[0.3], [0.6], [1.2]])[group],
        signal_variance=torch.tensor([0.5, 1.0, 2.0])[group],
        noise_variance=torch.full((6,), 0.02),
        mean=train_y.mean(1),
    )
    expected_mean, expected_variance = se_gp_posterior(train_x, train_y, queries, expected_hp, return_variance=True)
    torch.testing.assert_close(mean, expected_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(variance, expected_variance, rtol=1e-5, atol=1e-6)


def test_head_zero_mean_and_ard() -> None:
    train_x, train_y, queries = _data(2, seed=1)
    head = GPHead([0.3, 0.5, 0.9], signal_variance=1.5, noise_variance=0.05, ard_dims=3, mean="zero").double()
    assert head.log_lengthscale.shape == (1, 3)
    hp = head.hyperparameters(train_y.double())
    torch.testing.assert_close(hp.lengthscale, torch.tensor([[0.3, 0.5, 0.9]] * 2, dtype=F64))
    assert torch.equal(hp.mean, torch.zeros(2, 2, dtype=F64))
    torch.testing.assert_close(hp.signal_variance, torch.full((2,), 1.5, dtype=F64))
    mean = head(train_x.double(), train_y.double(), queries.double())
    torch.testing.assert_close(mean, se_gp_posterior(train_x.double(), train_y.double(), queries.double(), hp))


def test_head_gradients_reach_parameters_and_data_and_training_lowers_the_loss() -> None:
    train_x, train_y, queries = _data(2, seed=2, d_out=1)
    truth = torch.sin(4.0 * queries[..., :1]) + 0.3
    head = GPHead(lengthscale=2.0, signal_variance=0.1, noise_variance=0.5)
    train_x.requires_grad_()
    loss = (head(train_x, train_y, queries) - truth).square().mean()
    loss.backward()
    for tensor in (head.log_lengthscale, head.log_signal_variance, head.log_noise_variance, train_x):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0
    optimizer = torch.optim.Adam(head.parameters(), lr=0.2)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = (head(train_x.detach(), train_y, queries) - truth).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_head_gradcheck_float64() -> None:
    train_x, train_y, queries = (t.double() for t in _data(2, seed=3, k=4, m=3, d_in=2, d_out=1))
    head = GPHead([[0.5], [0.8]], signal_variance=[1.0, 0.7], noise_variance=0.1, n_groups=2, chunk_size=2)
    head = head.double()
    names = ("log_lengthscale", "log_signal_variance", "log_noise_variance")

    def run(x, y, q, *log_parameters):
        parameters = dict(zip(names, log_parameters))
        return torch.func.functional_call(head, parameters, (x, y, q), {"return_variance": True})

    log_parameters = [getattr(head, name).detach().clone().requires_grad_() for name in names]
    inputs = (train_x.requires_grad_(), train_y.requires_grad_(), queries.requires_grad_(), *log_parameters)
    assert torch.autograd.gradcheck(run, inputs)


def test_head_error_paths() -> None:
    with pytest.raises(ValueError, match=r"lengthscale must be finite and > 0, got \[0.5, 0.0\]"):
        GPHead(lengthscale=[0.5, 0.0], ard_dims=2)
    with pytest.raises(ValueError, match="noise_variance must be finite and > 0"):
        GPHead(noise_variance=-1.0)
    with pytest.raises(ValueError, match=r"signal_variance: cannot broadcast shape \(2,\) to \(3,\)"):
        GPHead(signal_variance=[1.0, 2.0], n_groups=3)
    with pytest.raises(ValueError, match="mean must be 'zero' or 'target', got 'median'"):
        GPHead(mean="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_groups must be >= 1, got 0"):
        GPHead(n_groups=0)
    train_x, train_y, queries = _data(4, seed=4)
    with pytest.raises(ValueError, match="batch size 4 is not a multiple of n_groups=3"):
        GPHead(n_groups=3)(train_x, train_y, queries)
    with pytest.raises(ValueError, match=r"lengthscale: expected \(4, 1\) or \(4, 3\), got \(4, 2\)"):
        GPHead(ard_dims=2)(train_x, train_y, queries)
    lengthscale = GPHead(lengthscale=0.25).hyperparameters(train_y).lengthscale
    assert math.isclose(lengthscale[0, 0].item(), 0.25, rel_tol=1e-6)
