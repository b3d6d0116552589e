"""``GPHead``: a thin ``nn.Module`` around the exact SE-GP with learnable log-hyperparameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from lowlight.gp.exact import CholeskyOptions, se_gp_posterior
from lowlight.gp.hyperparameters import SEHyperparameters
from lowlight.gp.kernels import check_points


class GPHead(nn.Module):
    """Exact SE-kernel GP regression whose hyperparameters are ``nn.Parameter`` s.

    Holds, per output group g (e.g. one group per colour channel, or a single group shared by
    all), ``log_lengthscale`` (G, 1) or (G, ard_dims), ``log_signal_variance`` (G,) and
    ``log_noise_variance`` (G,). A batch of B = N * G GPs is laid out group-fastest: batch
    element b uses group ``b % G``, which is what ``x.reshape(N * G, ...)`` of an (N, G, ...)
    tensor gives. The constant prior mean is not a parameter: zero, or the per-output mean of
    each element's training targets (differentiable in them).

    Args:
        lengthscale: initial lengthscale(s) > 0: a float, or a tensor broadcastable to (G, 1)
            or (G, ard_dims).
        signal_variance: initial signal variance(s) > 0: a float or a (G,) tensor.
        noise_variance: initial noise variance(s) > 0: a float or a (G,) tensor.
        n_groups: G.
        ard_dims: number of input dimensions for one lengthscale each; ``None`` shares one.
        mean: ``"target"`` or ``"zero"``.
        chunk_size: queries per batch element processed at once; ``None`` picks one from B and
            k (see :func:`se_gp_predict`).
        cholesky_options: jitter schedule of the Cholesky factorisation.
    """

    def __init__(
        self,
        lengthscale: float | Sequence[float] | Tensor = 1.0,
        signal_variance: float | Sequence[float] | Tensor = 1.0,
        noise_variance: float | Sequence[float] | Tensor = 0.01,
        *,
        n_groups: int = 1,
        ard_dims: int | None = None,
        mean: Literal["zero", "target"] = "target",
        chunk_size: int | None = None,
        cholesky_options: CholeskyOptions | None = None,
    ) -> None:
        super().__init__()
        if n_groups < 1:
            raise ValueError(f"n_groups must be >= 1, got {n_groups!r}")
        if ard_dims is not None and ard_dims < 1:
            raise ValueError(f"ard_dims must be >= 1 or None, got {ard_dims!r}")
        if mean not in ("zero", "target"):
            raise ValueError(f"mean must be 'zero' or 'target', got {mean!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        self.n_groups = n_groups
        self.ard_dims = ard_dims
        self.mean_mode = mean
        self.chunk_size = chunk_size
        self.cholesky_options = cholesky_options
        lengthscale_shape = (n_groups, 1 if ard_dims is None else ard_dims)
        self.log_lengthscale = nn.Parameter(_initial_log(lengthscale, lengthscale_shape, "lengthscale"))
        log_signal_variance = _initial_log(signal_variance, (n_groups,), "signal_variance")
        log_noise_variance = _initial_log(noise_variance, (n_groups,), "noise_variance")
        self.log_signal_variance = nn.Parameter(log_signal_variance)
        self.log_noise_variance = nn.Parameter(log_noise_variance)

    def hyperparameters(self, train_y: Tensor) -> SEHyperparameters:
        """The (differentiable) hyperparameters of a batch of B = N * G GPs.

        Args:
            train_y: (B, k, d_out) float, the targets (for the batch size and the target mean).

        Returns:
            :class:`SEHyperparameters` for batch B: variances and lengthscales in the parameters'
            dtype, the mean in the dtype of ``train_y``.
        """
        check_points(train_y, "train_y")
        batch = train_y.shape[0]
        if batch % self.n_groups != 0:
            raise ValueError(f"batch size {batch} is not a multiple of n_groups={self.n_groups}")
        group = torch.arange(batch, device=train_y.device) % self.n_groups  # (B,)
        if self.mean_mode == "target":
            mean = train_y.mean(1)  # (B, d_out)
        else:
            mean = train_y.new_zeros(batch, train_y.shape[2])
        return SEHyperparameters.from_log(
            self.log_lengthscale[group],
            self.log_signal_variance[group],
            self.log_noise_variance[group],
            mean,
        )

    def forward(
        self,
        train_x: Tensor,
        train_y: Tensor,
        queries: Tensor,
        return_variance: bool = False,
        include_noise: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Posterior mean (and variance) at the queries.

        Args:
            train_x: (B, k, d_in) float, B a multiple of ``n_groups``.
            train_y: (B, k, d_out) float.
            queries: (B, M, d_in) float.
            return_variance: also return the (B, M) posterior variance.
            include_noise: add the noise variance to it.

        Returns:
            mean (B, M, d_out), or ``(mean, variance)``; dtype of ``queries``.
        """
        return se_gp_posterior(
            train_x,
            train_y,
            queries,
            self.hyperparameters(train_y),
            return_variance=return_variance,
            include_noise=include_noise,
            chunk_size=self.chunk_size,
            cholesky_options=self.cholesky_options,
        )

    def extra_repr(self) -> str:
        return (
            f"n_groups={self.n_groups}, ard_dims={self.ard_dims}, mean={self.mean_mode!r}, "
            f"chunk_size={self.chunk_size}"
        )


def _initial_log(value: float | Sequence[float] | Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    """``log(value)`` broadcast to ``shape`` as a new float32 tensor, checking ``value > 0``."""
    tensor = torch.as_tensor(value, dtype=torch.float32)
    if not bool((tensor > 0).all()) or not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite and > 0, got {tensor.tolist()}")
    try:
        return tensor.log().broadcast_to(shape).clone()
    except RuntimeError as error:
        raise ValueError(f"{name}: cannot broadcast shape {tuple(tensor.shape)} to {shape}") from error
