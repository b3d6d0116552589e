"""Warm start of the clustered GP from a previous fit (video: the previous frame).

The k-means starts from the previous centres and runs a few Lloyd iterations instead of
k-means++ seeding, and the new hyperparameters are pulled towards the previous ones (an
exponential moving average of the log lengthscale and variances and of the prior mean), so that
the GP a frame gets changes smoothly from the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from lowlight.gp.hyperparameters import SEHyperparameters


@dataclass
class WarmStart:
    """What one GP fit hands to the next.

    Attributes:
        centres: (G, k, D) float, the previous fit's cluster centres (``GPFit.centres``), one set
            per GP group; used as the k-means initialisation when the shapes match.
        hyperparameters: the previous fit's hyperparameters, batch G (any float dtype).
        momentum: weight in [0, 1) of ``hyperparameters`` against the new frame's own.
        lloyd_iterations: Lloyd iterations from ``centres`` (>= 1).
    """

    centres: Tensor
    hyperparameters: SEHyperparameters
    momentum: float = 0.8
    lloyd_iterations: int = 3

    def __post_init__(self) -> None:
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.lloyd_iterations < 1:
            raise ValueError(f"lloyd_iterations must be >= 1, got {self.lloyd_iterations!r}")
        if self.centres.ndim != 3:
            raise ValueError(f"centres: expected (G, k, D), got {tuple(self.centres.shape)}")

    def init_centres(self, groups: int, k: int, dim: int) -> Tensor | None:
        """The previous centres (G, k, D) if they fit a new clustering of that shape, else ``None``."""
        return self.centres if tuple(self.centres.shape) == (groups, k, dim) else None

    def blend(self, current: SEHyperparameters) -> SEHyperparameters:
        """``momentum * previous + (1 - momentum) * current`` in log space (mean: linearly).

        Args:
            current: this frame's hyperparameters (batch G); its dtype and device are kept.

        Returns:
            The blended :class:`SEHyperparameters`, or ``current`` unchanged when the previous
            ones have another shape (another layout: nothing to blend with).
        """
        previous = self.hyperparameters.to(dtype=current.lengthscale.dtype, device=current.lengthscale.device)
        if any(p.shape != c.shape for p, c in zip(previous.tensors(), current.tensors(), strict=True)):
            return current
        m = self.momentum
        logs = [m * p + (1 - m) * c for p, c in
                zip(previous.log_parameters(), current.log_parameters(), strict=True)]
        return SEHyperparameters.from_log(*logs, m * previous.mean + (1 - m) * current.mean)
