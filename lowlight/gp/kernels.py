"""Squared-exponential (RBF) kernel pieces, batched, in pure torch.

The kernel is ``k(a, b) = s2 * exp(-0.5 * sum_j ((a_j - b_j) / l_j) ** 2)`` with a lengthscale
shared by all input dimensions, shape (B, 1), or one per dimension (ARD), shape (B, d). It is the
``ScaleKernel(RBFKernel())`` of gpytorch and the ``ConstantKernel * RBF`` of scikit-learn.

Two forms of the scaled squared distance are provided:

- :func:`squared_distance` forms every difference ``a - b``: exact (zero on equal points) and
  used for the small k x k training kernel, in float64;
- :func:`augment_queries`, :func:`augment_train` and :func:`unit_se_from_augmented` use the
  expansion ``|a|^2 - 2 a.b + |b|^2`` folded into one batched matmul, and an in-place exp: the
  fast path for the large query x train cross-kernel (:func:`lowlight.gp.exact.se_gp_predict`
  centres both sides on the training mean first, which keeps the float32 cancellation small).
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_lengthscale(lengthscale: Tensor, batch: int, d_in: int) -> None:
    """Raise ``ValueError`` unless ``lengthscale`` is (batch, 1) or (batch, d_in) and positive."""
    if lengthscale.ndim != 2 or lengthscale.shape[0] != batch or lengthscale.shape[1] not in (1, d_in):
        raise ValueError(
            f"lengthscale: expected ({batch}, 1) or ({batch}, {d_in}), got {tuple(lengthscale.shape)}"
        )
    _check_positive_tensor(lengthscale, "lengthscale")


def check_points(x: Tensor, name: str, batch: int | None = None, dim: int | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` is a floating (B, n, d) tensor with the given B and d."""
    if x.ndim != 3:
        raise ValueError(f"{name}: expected (B, n, d), got {tuple(x.shape)}")
    if batch is not None and x.shape[0] != batch:
        raise ValueError(f"{name}: expected batch size {batch}, got {tuple(x.shape)}")
    if dim is not None and x.shape[2] != dim:
        raise ValueError(f"{name}: expected last dimension {dim}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, got {x.dtype}")


def squared_distance(x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
    """Scaled squared distances ``sum_j ((x1_j - x2_j) / l_j) ** 2`` from explicit differences.

    Exact (no cancellation, zero for equal points) at the cost of a (B, n, m, d) intermediate:
    meant for the small training kernel.

    Args:
        x1: (B, n, d) float.
        x2: (B, m, d) float, same dtype as ``x1``.
        lengthscale: (B, 1) or (B, d) float > 0.

    Returns:
        (B, n, m) float >= 0, dtype of ``x1``.
    """
    check_points(x1, "x1")
    check_points(x2, "x2", batch=x1.shape[0], dim=x1.shape[2])
    check_lengthscale(lengthscale, x1.shape[0], x1.shape[2])
    inv_lengthscale = lengthscale.reciprocal().unsqueeze(1)  # (B, 1, d) or (B, 1, 1)
    diff = (x1 * inv_lengthscale).unsqueeze(2) - (x2 * inv_lengthscale).unsqueeze(1)  # (B, n, m, d)
    return diff.square().sum(-1)


def se_kernel(x1: Tensor, x2: Tensor, lengthscale: Tensor, signal_variance: Tensor) -> Tensor:
    """Squared-exponential kernel matrix ``s2 * exp(-0.5 * squared_distance)`` (exact form).

    Args:
        x1: (B, n, d) float.
        x2: (B, m, d) float.
        lengthscale: (B, 1) or (B, d) float > 0.
        signal_variance: (B,) float > 0.

    Returns:
        (B, n, m) float in (0, s2], dtype of ``x1``.
    """
    _check_variance(signal_variance, x1.shape[0], "signal_variance")
    return signal_variance[:, None, None] * torch.exp(-0.5 * squared_distance(x1, x2, lengthscale))


def augment_queries(scaled_queries: Tensor) -> Tensor:
    """``[q, -|q|^2 / 2, 1]`` so that ``augment_queries(q) @ augment_train(x).T`` is ``-|q - x|^2 / 2``.

    Args:
        scaled_queries: (B, M, d) float, centred and divided by the lengthscale.

    Returns:
        (B, M, d + 2) float.
    """
    half_norm = -0.5 * scaled_queries.square().sum(-1, keepdim=True)  # (B, M, 1)
    return torch.cat([scaled_queries, half_norm, torch.ones_like(half_norm)], -1)


def augment_train(scaled_train: Tensor) -> Tensor:
    """``[x, 1, -|x|^2 / 2]``, the partner of :func:`augment_queries`.

    Args:
        scaled_train: (B, k, d) float, centred and divided by the lengthscale.

    Returns:
        (B, k, d + 2) float.
    """
    half_norm = -0.5 * scaled_train.square().sum(-1, keepdim=True)  # (B, k, 1)
    return torch.cat([scaled_train, torch.ones_like(half_norm), half_norm], -1)


def unit_se_from_augmented(augmented_queries: Tensor, augmented_train: Tensor) -> Tensor:
    """``exp(q.x - |q|^2 / 2 - |x|^2 / 2)`` from one matmul of augmented vectors.

    The matmul gives the whole exponent, so the only other passes over the (B, M, k) result are
    the clamp and the exp (in place when autograd is not recording).

    Args:
        augmented_queries: (B, M, d + 2) float from :func:`augment_queries`.
        augmented_train: (B, k, d + 2) float from :func:`augment_train`.

    Returns:
        (B, M, k) float in (0, 1].
    """
    exponent = torch.bmm(augmented_queries, augmented_train.transpose(1, 2))  # (B, M, k)
    if torch.is_grad_enabled() and (augmented_queries.requires_grad or augmented_train.requires_grad):
        # the exponent is <= 0 exactly; rounding can push it slightly above
        return torch.exp(exponent.clamp_max(0.0))
    return exponent.clamp_max_(0.0).exp_()


def add_noise(kernel: Tensor, noise_variance: Tensor) -> Tensor:
    """Gaussian likelihood: the prior covariance of the observations, ``K + noise * I``.

    Args:
        kernel: (B, k, k) float, a square kernel matrix.
        noise_variance: (B,) float >= 0.

    Returns:
        (B, k, k) float, a new tensor.
    """
    if kernel.ndim != 3 or kernel.shape[1] != kernel.shape[2]:
        raise ValueError(f"kernel: expected (B, k, k), got {tuple(kernel.shape)}")
    if noise_variance.shape != (kernel.shape[0],):
        raise ValueError(
            f"noise_variance: expected ({kernel.shape[0]},), got {tuple(noise_variance.shape)}"
        )
    eye = torch.eye(kernel.shape[1], dtype=kernel.dtype, device=kernel.device)
    return kernel + noise_variance.to(kernel.dtype)[:, None, None] * eye


def _check_variance(value: Tensor, batch: int, name: str) -> None:
    if value.shape != (batch,):
        raise ValueError(f"{name}: expected ({batch},), got {tuple(value.shape)}")
    _check_positive_tensor(value, name)


def _check_positive_tensor(value: Tensor, name: str) -> None:
    if not bool((value > 0).all()) or not bool(torch.isfinite(value).all()):
        low, high = value.min().item(), value.max().item()
        raise ValueError(f"{name} must be finite and > 0, got min {low!r}, max {high!r}")
