"""Exact GP regression with the SE kernel, batched: Cholesky in float64, chunked prediction.

For each batch element b (an image, or an image x channel), k training points ``train_x[b]``
with targets ``train_y[b]`` (d_out outputs sharing one kernel, each with its own constant mean)
and M queries:

    K = s2 * exp(-0.5 |(x_i - x_j) / l|^2) + noise * I          (k x k, float64)
    alpha = K^-1 (y - mean)                                      (k x d_out, float64)
    mean(q) = mean + k(q, X) alpha                               (query dtype)
    var(q) = s2 - k(q, X) K^-1 k(X, q)   (+ noise on request)    (float64, cast back)

The k x k solve is float64 whatever the input dtype (k is at most a few hundred, so this costs
nothing); the M x k cross-kernel, which dominates for every-pixel queries, stays in the dtype of
the queries and is built chunk by chunk (``chunk_size`` queries per batch element at a time), so
memory is bounded by ``B * chunk_size * k`` elements whatever M.

Everything is differentiable with respect to the training data, the queries and the
hyperparameters (``torch.autograd.gradcheck`` passes in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, overload

import torch
from torch import Tensor

from lowlight.gp.hyperparameters import SEHyperparameters
from lowlight.gp.kernels import (
    add_noise,
    augment_queries,
    augment_train,
    check_points,
    se_kernel,
    unit_se_from_augmented,
)

# queries per chunk when chunk_size is None: about 2^20 cross-kernel entries (4 MB in float32, so
# the clamp / exp / matmul passes over a chunk stay in cache; few chunks, few parallel regions).
# Measured single-threaded on the project's 2-core Xeon, k = 200, M = 196608: 2^17..2^21
# entries within 10 %, 2^23 2.5x slower.
CHUNK_ELEMENTS = 2**20
MIN_CHUNK_SIZE = 256


@dataclass
class CholeskyOptions:
    """Jitter schedule of :func:`robust_cholesky`.

    The first try adds nothing; try t (t = 1..max_tries) adds
    ``jitter_start * jitter_growth ** (t - 1) * mean(|diag|)`` to the diagonal of the batch
    elements that have not succeeded yet (so the jitter is relative to the matrix's scale; for a
    unit signal variance the schedule is 1e-8, 1e-7, ..., 1e-1).
    """

    jitter_start: float = 1e-8
    jitter_growth: float = 10.0
    max_tries: int = 8

    def __post_init__(self) -> None:
        if not self.jitter_start > 0:
            raise ValueError(f"jitter_start must be > 0, got {self.jitter_start!r}")
        if not self.jitter_growth > 1:
            raise ValueError(f"jitter_growth must be > 1, got {self.jitter_growth!r}")
        if self.max_tries < 0:
            raise ValueError(f"max_tries must be >= 0, got {self.max_tries!r}")


def robust_cholesky(matrix: Tensor, options: CholeskyOptions | None = None) -> tuple[Tensor, Tensor]:
    """Batched Cholesky factor of symmetric PSD matrices, adding growing jitter where it fails.

    A factorisation counts as failed when ``torch.linalg.cholesky_ex`` reports it, when the
    factor is not finite, or when its smallest pivot is at rounding level
    (``min diag(L)^2 <= k * eps * max diag``): a numerically singular matrix (duplicate points,
    zero noise) can "succeed" with a pivot of 1e-8 and then blow the solve up.

    Args:
        matrix: (B, k, k) float, symmetric positive (semi-)definite.
        options: the jitter schedule; defaults when ``None``.

    Returns:
        ``(cholesky, jitter)``: (B, k, k) lower-triangular factor of ``matrix + jitter * I``, and
        the (B,) jitter added to each batch element (0 where none was needed).

    Raises:
        ValueError: wrong shape or non-finite entries.
        torch.linalg.LinAlgError: still failing after the last jitter.
    """
    options = options or CholeskyOptions()
    if matrix.ndim != 3 or matrix.shape[1] != matrix.shape[2]:
        raise ValueError(f"matrix: expected (B, k, k), got {tuple(matrix.shape)}")
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError("matrix has non-finite entries (NaN or inf in the data or hyperparameters?)")
    batch, k, _ = matrix.shape
    diagonal = matrix.detach().diagonal(dim1=-2, dim2=-1)  # (B, k)
    scale = diagonal.abs().mean(-1).clamp_min(torch.finfo(matrix.dtype).tiny)  # (B,)
    pivot_floor = k * torch.finfo(matrix.dtype).eps * diagonal.abs().amax(-1)  # (B,)
    jitter = torch.zeros(batch, dtype=matrix.dtype, device=matrix.device)
    for attempt in range(options.max_tries + 1):
        shifted = matrix if attempt == 0 else add_noise(matrix, jitter)
        cholesky, info = torch.linalg.cholesky_ex(shifted)
        pivots = cholesky.detach().diagonal(dim1=-2, dim2=-1)  # (B, k)
        finite = torch.isfinite(cholesky.detach()).flatten(1).all(-1)
        failed = (info != 0) | ~finite | ~(pivots.square().amin(-1) > pivot_floor)
        if not bool(failed.any()):
            return cholesky, jitter
        if attempt < options.max_tries:
            step = options.jitter_start * options.jitter_growth**attempt
            jitter = torch.where(failed, step * scale, jitter)
    bad = failed.nonzero().flatten().tolist()
    raise torch.linalg.LinAlgError(
        f"Cholesky failed for batch elements {bad} even with jitter {jitter[failed].tolist()} "
        f"after {options.max_tries} tries: the kernel matrix is not positive definite"
    )


@dataclass
class ExactGPState:
    """A GP conditioned on its training data: everything prediction needs, in float64.

    Attributes:
        train_x: (B, k, d_in) float64.
        hyperparameters: float64 :class:`SEHyperparameters`.
        cholesky: (B, k, k) float64, lower factor of ``K + noise * I (+ jitter * I)``.
        alpha: (B, k, d_out) float64, ``(K + noise * I)^-1 (y - mean)``.
        jitter: (B,) float64, the jitter :func:`robust_cholesky` added.
    """

    train_x: Tensor
    hyperparameters: SEHyperparameters
    cholesky: Tensor
    alpha: Tensor
    jitter: Tensor

    def select(self, index: int) -> ExactGPState:
        """Batch element ``index`` alone (a batch of one; differentiable)."""
        part = slice(index, index + 1)
        return ExactGPState(self.train_x[part], self.hyperparameters.select(index), self.cholesky[part],
                            self.alpha[part], self.jitter[part])


def se_gp_condition(
    train_x: Tensor,
    train_y: Tensor,
    hyperparameters: SEHyperparameters,
    cholesky_options: CholeskyOptions | None = None,
) -> ExactGPState:
    """Condition a batch of SE-kernel GPs on their training data (the O(k^3) part).

    Args:
        train_x: (B, k, d_in) float.
        train_y: (B, k, d_out) float.
        hyperparameters: :class:`SEHyperparameters` for batch B (lengthscale (B, 1) or
            (B, d_in), variances (B,), mean (B, d_out)); noise may be 0.
        cholesky_options: jitter schedule of :func:`robust_cholesky`.

    Returns:
        :class:`ExactGPState` (float64, differentiable back to the inputs).
    """
    check_points(train_x, "train_x")
    check_points(train_y, "train_y", batch=train_x.shape[0])
    batch, k, d_in = train_x.shape
    if train_y.shape[1] != k:
        raise ValueError(
            "train_x and train_y hold different numbers of points: "
            f"{tuple(train_x.shape)} vs {tuple(train_y.shape)}"
        )
    if k == 0:
        raise ValueError(f"train_x: need at least one training point, got {tuple(train_x.shape)}")
    hyperparameters.validate(batch, d_in, train_y.shape[2])
    hp = hyperparameters.to(dtype=torch.float64)
    x = train_x.double()
    prior = se_kernel(x, x, hp.lengthscale, hp.signal_variance)  # (B, k, k)
    covariance = add_noise(prior, hp.noise_variance)
    cholesky, jitter = robust_cholesky(covariance, cholesky_options)
    residual = train_y.double() - hp.mean.unsqueeze(1)  # (B, k, d_out)
    alpha = torch.cholesky_solve(residual, cholesky)  # (B, k, d_out)
    return ExactGPState(train_x=x, hyperparameters=hp, cholesky=cholesky, alpha=alpha, jitter=jitter)


@overload
def se_gp_predict(
    state: ExactGPState,
    queries: Tensor,
    *,
    return_variance: Literal[False] = ...,
    include_noise: bool = ...,
    chunk_size: int | None = ...,
) -> Tensor: ...


@overload
def se_gp_predict(
    state: ExactGPState,
    queries: Tensor,
    *,
    return_variance: Literal[True],
    include_noise: bool = ...,
    chunk_size: int | None = ...,
) -> tuple[Tensor, Tensor]: ...


def se_gp_predict(
    state: ExactGPState,
    queries: Tensor,
    *,
    return_variance: bool = False,
    include_noise: bool = False,
    chunk_size: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Posterior mean (and variance) of a conditioned GP at the queries, chunk by chunk.

    The cross-kernel and the mean are computed in the dtype of ``queries`` (float32 for speed,
    float64 for exactness); the variance's triangular solve is always float64.

    Args:
        state: from :func:`se_gp_condition`.
        queries: (B, M, d_in) float.
        return_variance: also return the posterior variance.
        include_noise: add the noise variance (the predictive variance of a new observation)
            instead of the latent function's variance.
        chunk_size: queries per batch element processed at once; memory is about
            ``B * chunk_size * k`` elements of the query dtype (plus float64 for the variance).
            ``None``: :func:`default_chunk_size`.

    Returns:
        mean (B, M, d_out), or ``(mean, variance)`` with variance (B, M) float >= 0; both in the
        dtype of ``queries``.
    """
    hp = state.hyperparameters
    batch, _, d_in = state.train_x.shape
    check_points(queries, "queries", batch=batch, dim=d_in)
    if chunk_size is None:
        chunk_size = default_chunk_size(batch, state.train_x.shape[1])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    dtype = queries.dtype
    center = state.train_x.mean(1, keepdim=True)  # (B, 1, d_in)
    inv_lengthscale = hp.lengthscale.reciprocal().unsqueeze(1)  # (B, 1, d_in) or (B, 1, 1)
    scaled_train = ((state.train_x - center) * inv_lengthscale).to(dtype)  # (B, k, d_in)
    augmented_train = augment_train(scaled_train)  # (B, k, d_in + 2)
    # all queries prepared at once: (B, M, d_in + 2) costs no more than the queries themselves, and
    # fewer ops per chunk matter on a busy machine, where every parallel region waits for a core
    shift, scale = (-center * inv_lengthscale).to(dtype), inv_lengthscale.to(dtype)
    scaled_queries = torch.addcmul(shift, queries, scale)  # (q - c) / l, (B, M, d_in)
    augmented_queries = augment_queries(scaled_queries)  # (B, M, d_in + 2)
    weights = (hp.signal_variance[:, None, None] * state.alpha).to(dtype)  # (B, k, d_out)
    prior_mean = hp.mean.unsqueeze(1).to(dtype)  # (B, 1, d_out)
    means: list[Tensor] = []
    variances: list[Tensor] = []
    for chunk in augmented_queries.split(chunk_size, dim=1):
        correlation = unit_se_from_augmented(chunk, augmented_train)  # (B, c, k)
        means.append(torch.baddbmm(prior_mean, correlation, weights))  # (B, c, d_out)
        if return_variance:
            variances.append(latent_variance(correlation, state))
    if not means:
        empty_mean = queries.new_zeros(batch, 0, state.alpha.shape[2])
        return (empty_mean, queries.new_zeros(batch, 0)) if return_variance else empty_mean
    mean = torch.cat(means, dim=1)
    if not return_variance:
        return mean
    variance = torch.cat(variances, dim=1)  # (B, M) float64
    if include_noise:
        variance = variance + hp.noise_variance.unsqueeze(1)
    return mean, variance.to(dtype)


def default_chunk_size(batch: int, k: int) -> int:
    """Queries per chunk for about ``CHUNK_ELEMENTS`` cross-kernel entries (>= ``MIN_CHUNK_SIZE``)."""
    return max(MIN_CHUNK_SIZE, CHUNK_ELEMENTS // max(1, batch * k))


def se_gp_posterior(
    train_x: Tensor,
    train_y: Tensor,
    queries: Tensor,
    hyperparameters: SEHyperparameters,
    *,
    return_variance: bool = False,
    include_noise: bool = False,
    chunk_size: int | None = None,
    cholesky_options: CholeskyOptions | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """:func:`se_gp_condition` then :func:`se_gp_predict` (see both for shapes, dtypes and options).

    Args:
        train_x: (B, k, d_in) float.
        train_y: (B, k, d_out) float.
        queries: (B, M, d_in) float.
        hyperparameters: :class:`SEHyperparameters` for batch B.

    Returns:
        mean (B, M, d_out), or ``(mean, variance)`` with variance (B, M); dtype of ``queries``.
    """
    state = se_gp_condition(train_x, train_y, hyperparameters, cholesky_options)
    return se_gp_predict(
        state,
        queries,
        return_variance=return_variance,
        include_noise=include_noise,
        chunk_size=chunk_size,
    )


def negative_log_marginal_likelihood(
    train_x: Tensor,
    train_y: Tensor,
    hyperparameters: SEHyperparameters,
    cholesky_options: CholeskyOptions | None = None,
) -> Tensor:
    """``-log p(y | X, theta)`` of each batch element, summed over its d_out outputs (not divided by k).

    Per output o: ``0.5 r_o^T K^-1 r_o + 0.5 log det K + 0.5 k log(2 pi)`` with
    ``r_o = y_o - mean_o`` and ``K`` the noisy training covariance; gpytorch's
    ``ExactMarginalLogLikelihood`` returns minus this divided by k.

    Args:
        train_x: (B, k, d_in) float.
        train_y: (B, k, d_out) float.
        hyperparameters: :class:`SEHyperparameters` for batch B.

    Returns:
        (B,) float in the dtype of ``train_x``, differentiable.
    """
    state = se_gp_condition(train_x, train_y, hyperparameters, cholesky_options)
    _, k, d_out = state.alpha.shape
    residual = train_y.double() - state.hyperparameters.mean.unsqueeze(1)  # (B, k, d_out)
    quadratic = (residual * state.alpha).sum((1, 2))  # (B,)
    log_det = 2.0 * state.cholesky.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (B,)
    nll = 0.5 * quadratic + 0.5 * d_out * log_det + 0.5 * k * d_out * math.log(2.0 * math.pi)
    return nll.to(train_x.dtype)


def latent_variance(correlation: Tensor, state: ExactGPState) -> Tensor:
    """``s2 - k(q, X) K^-1 k(X, q)`` for a chunk of queries, in float64 (the subtraction cancels near data).

    Args:
        correlation: (B, c, k) float, the unit-variance cross-kernel ``exp(-0.5 |(q - x) / l|^2)``
            of c queries with the k training points.
        state: the conditioned GP.

    Returns:
        (B, c) float64 >= 0.
    """
    signal_variance = state.hyperparameters.signal_variance  # (B,)
    cross = signal_variance[:, None, None] * correlation.double().transpose(1, 2)  # (B, k, c)
    whitened = torch.linalg.solve_triangular(state.cholesky, cross, upper=False)  # (B, k, c)
    return (signal_variance.unsqueeze(1) - whitened.square().sum(1)).clamp_min(0.0)
