"""The production float32 GP path against an independent reference: gpytorch's exact GP, float64.

The pipeline (``fit_clustered_gp`` + ``predict_clustered_gp``, CM's shared GP on patch pairs,
whole-patch target) predicts every pixel of an image through its float32 cross-kernel. Here the
same training points, targets and hyperparameters go into gpytorch ``ExactGP`` models (float64,
one per predicted patch position), the queries are built with numpy, and the overlapping patch
predictions are averaged back by hand: nothing but the fitted centres comes from the project.
"""

from __future__ import annotations

import gpytorch
import numpy as np
import torch

from lowlight.enhance.clustered_gp import (
    GPOptions,
    fit_clustered_gp,
    gp_training_data,
    predict_clustered_gp,
)
from tests.images import structured_image

P = 3


def _gpytorch_posterior(train_x: torch.Tensor, train_y: torch.Tensor, queries: torch.Tensor, lengthscale: float,
                        signal: float, noise: float, mean: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent posterior mean and variance of a float64 gpytorch ExactGP with fixed hyperparameters."""

    class Model(gpytorch.models.ExactGP):
        def __init__(self, likelihood: gpytorch.likelihoods.GaussianLikelihood) -> None:
            super().__init__(train_x, train_y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

        def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    likelihood = gpytorch.likelihoods.GaussianLikelihood(noise_constraint=gpytorch.constraints.GreaterThan(1e-12))
    model = Model(likelihood).double()
    likelihood.double()
    model.covar_module.base_kernel.lengthscale = lengthscale
    model.covar_module.outputscale = signal
    likelihood.noise = noise
    model.mean_module.constant = mean
    model.eval()
    likelihood.eval()
    means, variances = [], []
    with torch.no_grad(), gpytorch.settings.fast_computations(False, False, False), \
            gpytorch.settings.max_cholesky_size(10**6):
        for chunk in queries.split(1024):
            posterior = model(chunk)
            means.append(posterior.mean)
            variances.append(posterior.variance)
    return torch.cat(means), torch.cat(variances)


def _patches(channel: np.ndarray) -> np.ndarray:
    """(H, W) -> (H W, 9): the reflect-padded 3 x 3 patch around every pixel, row-major."""
    h, w = channel.shape
    padded = np.pad(channel, 1, mode="reflect")
    return np.stack([padded[dy : dy + h, dx : dx + w].reshape(-1) for dy in range(P) for dx in range(P)], axis=1)


def _fold(predicted: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H W, 9) patch predictions -> (H, W): each pixel averages the windows inside the image that cover it."""
    total, count = np.zeros((h, w)), np.zeros((h, w))
    windows = predicted.reshape(h, w, P, P)
    for dy in range(P):
        for dx in range(P):
            # the window around (i, j) puts its (dy, dx) entry on pixel (i - 1 + dy, j - 1 + dx)
            rows = slice(max(0, 1 - dy), min(h, h + 1 - dy))
            cols = slice(max(0, 1 - dx), min(w, w + 1 - dx))
            target_rows = slice(rows.start - 1 + dy, rows.stop - 1 + dy)
            target_cols = slice(cols.start - 1 + dx, cols.stop - 1 + dx)
            total[target_rows, target_cols] += windows[rows, cols, dy, dx]
            count[target_rows, target_cols] += 1
    return total / count


def test_production_float32_prediction_matches_gpytorch_float64() -> None:
    h, w = 20, 24
    truth = structured_image(h, w, seed=3) / 255.0
    low = torch.from_numpy(truth**3).permute(2, 0, 1)[None].float()
    ref = torch.from_numpy(truth**0.9).permute(2, 0, 1)[None].float()
    options = GPOptions(k=25, patch=P)
    assert options.inputs == "pair" and options.target == "patch" and not options.per_channel  # CM's defaults
    fit = fit_clustered_gp(low, ref, options)
    assert float(fit.state.jitter[0]) == 0.0
    mean, variance = predict_clustered_gp(fit, low, options, return_variance=True, ref=ref)
    assert mean.dtype == torch.float32

    train_x, train_y = (t[0].double() for t in gp_training_data(fit.centres, options))  # (k, 18), (k, 9)
    hp = fit.state.hyperparameters
    lengthscale, signal, noise = float(hp.lengthscale[0, 0]), float(hp.signal_variance[0]), float(hp.noise_variance[0])
    for c in range(3):
        queries = torch.from_numpy(np.concatenate([_patches(low[0, c].double().numpy()),
                                                   _patches(ref[0, c].double().numpy())], axis=1))  # (H W, 18)
        per_position, latent_variance = [], None
        for o in range(P * P):
            m, v = _gpytorch_posterior(train_x, train_y[:, o], queries, lengthscale, signal, noise, float(hp.mean[0, o]))
            per_position.append(m.numpy())
            latent_variance = v.numpy()  # the same kernel for every output: the same variance
        expected = _fold(np.stack(per_position, axis=1), h, w)
        np.testing.assert_allclose(mean[0, c].double().numpy(), expected, rtol=0, atol=1e-5)
        np.testing.assert_allclose(variance[0, c].double().numpy(), latent_variance.reshape(h, w), rtol=0, atol=5e-7)
