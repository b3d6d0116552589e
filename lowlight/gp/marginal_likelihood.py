"""Type-II maximum likelihood: the SE-GP hyperparameters that minimise the negative log
marginal likelihood, each batch element (image) its own.

The log-parameters (log lengthscale, log signal variance, log noise variance; the constant mean
stays) are optimised in float64 with Adam on the sum of the per-image NLLs. The images are
independent, so the sum's gradient for one image's parameters is that image's own gradient, and
Adam's per-parameter steps keep them apart. For each image the parameters with the lowest NLL
seen are kept, so the result never has a higher NLL than the start. Used by the GPE baseline
(:mod:`lowlight.baselines.gpe`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lowlight.gp.exact import CholeskyOptions, negative_log_marginal_likelihood
from lowlight.gp.hyperparameters import SEHyperparameters
from lowlight.gp.kernels import check_points


@dataclass
class MarginalLikelihoodOptions:
    """Options of :func:`maximise_marginal_likelihood`.

    Attributes:
        steps: Adam steps.
        learning_rate: Adam's step size on the log-parameters.
        min_noise_variance: floor on the noise variance (the NLL of exactly interpolated data
            keeps decreasing as the noise goes to 0).
    """

    steps: int = 50
    learning_rate: float = 0.05
    min_noise_variance: float = 1e-6

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.min_noise_variance > 0:
            raise ValueError(f"min_noise_variance must be > 0, got {self.min_noise_variance!r}")


@dataclass
class MarginalLikelihoodResult:
    """Outcome of :func:`maximise_marginal_likelihood`.

    Attributes:
        hyperparameters: the fitted values (dtype and device of the training inputs, detached).
        initial_nll: (B,) NLL at the start (after flooring the noise).
        final_nll: (B,) NLL of the returned hyperparameters (<= ``initial_nll``).
    """

    hyperparameters: SEHyperparameters
    initial_nll: Tensor
    final_nll: Tensor


def maximise_marginal_likelihood(
    train_x: Tensor,
    train_y: Tensor,
    init: SEHyperparameters,
    options: MarginalLikelihoodOptions | None = None,
    cholesky_options: CholeskyOptions | None = None,
) -> MarginalLikelihoodResult:
    """Minimise the negative log marginal likelihood over the hyperparameters, per batch element.

    Not differentiable (the training data are detached); use the result as fixed values, or a
    :class:`~lowlight.gp.learnable.LearnedHyperparameters` to learn them jointly with a network.

    Args:
        train_x: (B, k, d_in) float.
        train_y: (B, k, d_out) float.
        init: starting :class:`SEHyperparameters` (e.g. :func:`heuristic_hyperparameters`);
            its lengthscale shape (shared or ARD) is kept.
        options: :class:`MarginalLikelihoodOptions`; defaults when ``None``.
        cholesky_options: jitter schedule for the Cholesky factorisations.

    Returns:
        :class:`MarginalLikelihoodResult`.
    """
    # Callers often run under torch.inference_mode (enhancement); the fit needs autograd on
    # fresh leaf tensors, so it leaves inference mode and copies what it differentiates.
    with torch.inference_mode(False), torch.enable_grad():
        return _fit(train_x.clone(), train_y.clone(), init.detach().to(dtype=torch.float64), options,
                    cholesky_options)


def _fit(
    train_x: Tensor,
    train_y: Tensor,
    init: SEHyperparameters,
    options: MarginalLikelihoodOptions | None,
    cholesky_options: CholeskyOptions | None,
) -> MarginalLikelihoodResult:
    options = options or MarginalLikelihoodOptions()
    check_points(train_x, "train_x")
    check_points(train_y, "train_y", batch=train_x.shape[0])
    init.validate(train_x.shape[0], train_x.shape[2], train_y.shape[2])
    x = train_x.detach().double()
    y = train_y.detach().double()
    start = SEHyperparameters(*(t.clone() for t in init.tensors()))
    log_lengthscale, log_signal_variance, _ = (t.clone() for t in start.log_parameters())
    log_noise_variance = start.noise_variance.clamp_min(options.min_noise_variance).log()
    mean = start.mean.clone()
    parameters = [log_lengthscale, log_signal_variance, log_noise_variance]
    for parameter in parameters:
        parameter.requires_grad_(True)

    def current() -> SEHyperparameters:
        noise = log_noise_variance.exp().clamp_min(options.min_noise_variance)
        return SEHyperparameters(log_lengthscale.exp(), log_signal_variance.exp(), noise, mean)

    with torch.no_grad():
        initial_nll = negative_log_marginal_likelihood(x, y, current(), cholesky_options)
    best_nll = initial_nll.clone()
    best = SEHyperparameters(*(t.detach().clone() for t in current().tensors()))

    def evaluate() -> Tensor:
        """NLL summed over the batch; records each image's best parameters as a side effect."""
        candidate = current()
        nll = negative_log_marginal_likelihood(x, y, candidate, cholesky_options)  # (B,)
        with torch.no_grad():
            improved = torch.isfinite(nll) & (nll < best_nll)
            best_nll.copy_(torch.where(improved, nll, best_nll))
            for kept, new in zip(best.tensors(), candidate.tensors()):
                mask = improved.view(-1, *([1] * (new.ndim - 1)))
                kept.copy_(torch.where(mask, new.detach(), kept))
        return nll.sum()

    with torch.enable_grad():
        if options.steps > 0:
            optimizer = torch.optim.Adam(parameters, lr=options.learning_rate)
            for _ in range(options.steps):
                optimizer.zero_grad()
                evaluate().backward()
                optimizer.step()
            with torch.no_grad():
                evaluate()  # the last step's result is not evaluated by the loop
    return MarginalLikelihoodResult(
        hyperparameters=best.to(dtype=train_x.dtype),
        initial_nll=initial_nll.to(train_x.dtype),
        final_nll=best_nll.to(train_x.dtype),
    )
