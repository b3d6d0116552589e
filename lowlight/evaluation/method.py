"""What the evaluation runs: a :class:`Method` (a row of the results) and the run's options.

A method is a name and a callable ``(image, context) -> enhanced`` with ``image`` (B, 3, H, W)
float in [0, 1] and ``context`` the :class:`~lowlight.protocols.ImageContext` of that batch (the
runner passes one image at a time). Only reference points such as the oracle look at the context;
they set ``needs_truth`` so that runs without ground truth skip them. Images arrive on the CPU as
float32; a method that runs elsewhere moves them to its device and may return its result there
(the runner brings outputs back to the CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from lowlight.protocols import ImageContext

EnhanceFn = Callable[[Tensor, ImageContext], Tensor]


@dataclass(frozen=True)
class Method:
    """One row of the results.

    Attributes:
        name: the row label, e.g. ``"auto-gamma"`` or ``"cm k=30"``.
        enhance: ``(image (B, 3, H, W) float in [0, 1], context) -> (B, 3, H, W) float in [0, 1]``.
        needs_truth: the method reads the true darkening from the context (a reference point,
            not a method); skipped on images without ground truth.
    """

    name: str
    enhance: EnhanceFn
    needs_truth: bool = False

    def __call__(self, image: Tensor, context: ImageContext) -> Tensor:
        return self.enhance(image, context)


@dataclass(frozen=True)
class MethodOptions:
    """Options every factory receives (each uses what it needs).

    Attributes:
        device: torch device for learned methods (``"cpu"``, ``"cuda"``).
        k: cluster counts of the GP methods, one row per value.
        checkpoint_dir: folder of trained checkpoints (the reference CNN), or ``None``.
        gpe_mat: GPE's MatConvNet CNN file (``../shared/reference/gpe_cnnmodel.mat``), or ``None``.
        seed: seed for methods with randomness (k-means++ initialisation).
    """

    device: str = "cpu"
    k: tuple[int, ...] = (10, 30)
    checkpoint_dir: Path | None = None
    gpe_mat: Path | None = None
    seed: int = 0


MethodFactory = Callable[[MethodOptions], list[Method]]
