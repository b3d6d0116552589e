"""The LightningModule that ``Trainer.predict`` runs on every rank: the :class:`Enhancer`, unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lowlight.bulk.items import (
    EnhanceFailure,
    Enhanced,
    ImageBatch,
    ReadFailure,
    VideoItem,
    VideoResult,
    enhance_batch,
)
from lowlight.enhance.enhancer import Enhancer

#: enhances one video file into its target on a device; prints its own error line and returns
#: ``False`` on failure (``infer.py`` passes :func:`lowlight.video.cli.enhance_video_input`)
VideoHandler = Callable[[Enhancer, Path, Path, torch.device], bool]

Prediction = Enhanced | EnhanceFailure | ReadFailure | VideoResult


class EnhanceModule(L.LightningModule):
    """Wraps an :class:`Enhancer` for ``Trainer.predict``; the outputs are written by
    :class:`~lowlight.bulk.writer.AtomicPngWriter`.

    Lightning moves the enhancer to the rank's device (``cuda:<local rank>`` with
    ``accelerator="gpu"``); batches are :mod:`lowlight.bulk.items` work items, one per step.

    Args:
        enhancer: the enhancer as ``infer.py`` builds it (on the CPU; any device works).
        uncertainty: also predict the GP's posterior standard deviation.
        video: how a video item is enhanced (it writes its own file); ``None``: videos fail.
    """

    def __init__(self, enhancer: Enhancer, uncertainty: bool = False, video: VideoHandler | None = None) -> None:
        super().__init__()
        self.enhancer = enhancer
        self.uncertainty = uncertainty
        self.video = video

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Prediction:
        """One work item -> its result (images stay in memory until the writer saves them)."""
        if isinstance(batch, ImageBatch):
            return enhance_batch(self.enhancer, batch, self.uncertainty, self.device)
        if isinstance(batch, VideoItem):
            if self.video is None:
                return ReadFailure(batch.path, f"{batch.path}: videos are not handled here")
            with torch.inference_mode(False):  # the video job manages its own modes and writes its file
                return VideoResult(batch.path, self.video(self.enhancer, batch.path, batch.target, self.device))
        if isinstance(batch, ReadFailure):
            return batch
        raise TypeError(f"unexpected work item {type(batch).__name__}")
