from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from lowlight.gp.exact import se_gp_posterior
from lowlight.gp.hyperparameters import (
    HeuristicOptions,
    SEHyperparameters,
    heuristic_hyperparameters,
)

F64 = torch.float64


def _lower_median(values: np.ndarray) -> float:
    return float(np.sort(values)[(len(values) - 1) // 2])


def test_heuristic_matches_numpy_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(2, 9, 3, generator=generator, dtype=F64)
    train_y = torch.randn(2, 9, 2, generator=generator, dtype=F64)
    hp = heuristic_hyperparameters(train_x, train_y, HeuristicOptions(noise_fraction=0.05))
    for b in range(2):
        y = train_y[b].numpy()
        expected_lengthscale = _lower_median(pdist(train_x[b].numpy()))
        assert hp.lengthscale[b, 0].item() == pytest.approx(expected_lengthscale, rel=1e-12)
        expected_variance = ((y - y.mean(0)) ** 2).mean()
        assert hp.signal_variance[b].item() == pytest.approx(expected_variance, rel=1e-12)
        assert hp.noise_variance[b].item() == pytest.approx(0.05 * expected_variance, rel=1e-12)
        np.testing.assert_allclose(hp.mean[b].numpy(), y.mean(0), rtol=1e-12)
    assert hp.lengthscale.shape == (2, 1) and not hp.is_ard


def test_heuristic_ignores_duplicate_points_and_survives_degenerate_data() -> None:
    train_x = torch.zeros(3, 6, 2, dtype=F64)
    train_x[0, :3] = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=F64)  # 3 points, each twice
    train_x[0, 3:] = train_x[0, :3]
    train_x[1, :, 0] = torch.linspace(0, 1, 6, dtype=F64)  # dimension 1 constant
    # element 2: every point equal (a flat image), and constant targets
    train_y = torch.randn(3, 6, 1, generator=torch.Generator().manual_seed(2), dtype=F64)
    train_y[2] = 0.25
    options = HeuristicOptions(fallback_lengthscale=0.7, min_signal_variance=1e-5)
    hp = heuristic_hyperparameters(train_x, train_y, options)
    assert hp.lengthscale[0, 0].item() == pytest.approx(_lower_median(np.array([1.0, 2.0, 5**0.5])))
    assert hp.lengthscale[2, 0].item() == 0.7
    assert hp.signal_variance[2].item() == 1e-5
    queries = torch.rand(3, 10, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    for params in (hp,):
        mean, variance = se_gp_posterior(train_x, train_y, queries, params, return_variance=True)
        assert torch.isfinite(mean).all() and torch.isfinite(variance).all()
    torch.testing.assert_close(mean[2], torch.full((10, 1), 0.25, dtype=F64))


def test_heuristic_single_point_and_dtype() -> None:
    hp = heuristic_hyperparameters(torch.rand(2, 1, 4), torch.rand(2, 1, 3))
    assert hp.lengthscale.dtype == torch.float32
    assert torch.equal(hp.lengthscale, torch.ones(2, 1))


def test_hyperparameter_helpers() -> None:
    hp = SEHyperparameters.constant(2, 3, 0.5, signal_variance=2.0, noise_variance=0.1, mean=0.3, dtype=F64)
    assert hp.batch_size == 2 and hp.mean.shape == (2, 3)
    back = SEHyperparameters.from_log(*hp.log_parameters(), hp.mean)
    for original, rebuilt in zip(hp.tensors(), back.tensors()):
        torch.testing.assert_close(original, rebuilt)
    assert hp.to(dtype=torch.float32).signal_variance.dtype == torch.float32
    hp.validate(2, 7, 3)
    with pytest.raises(ValueError, match="noise_variance must be finite and > 0"):
        SEHyperparameters.constant(2, 3, 0.5, 2.0, 0.0).validate(2, 7, 3, allow_zero_noise=False)
    with pytest.raises(ValueError, match=r"signal_variance: expected \(3,\), got \(2,\)"):
        SEHyperparameters(torch.ones(3, 1), torch.ones(2), torch.ones(3), torch.zeros(3, 1)).validate(3, 2, 1)
    with pytest.raises(ValueError, match="mean must be finite"):
        nan_mean = torch.full((1, 1), torch.nan)
        SEHyperparameters(torch.ones(1, 1), torch.ones(1), torch.ones(1), nan_mean).validate(1, 2, 1)


def test_heuristic_error_paths() -> None:
    with pytest.raises(ValueError, match="noise_fraction must be > 0, got 0.0"):
        HeuristicOptions(noise_fraction=0.0)
    with pytest.raises(ValueError, match="different numbers of points"):
        heuristic_hyperparameters(torch.rand(1, 4, 2), torch.rand(1, 5, 1))
    with pytest.raises(ValueError, match=r"train_x: expected \(B, n, d\), got \(4, 2\)"):
        heuristic_hyperparameters(torch.rand(4, 2), torch.rand(4, 1))
