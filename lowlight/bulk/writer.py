"""The prediction writer: each rank writes the outputs it made, atomically, and counts them.

At the end every rank's counts are summed across ranks (one all-reduce) and stored in
``trainer.callback_metrics`` under :data:`TOTAL_KEYS`, which Lightning also hands back to the
launching process under its fork/spawn launchers, so the caller prints one summary for the job.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from tqdm import tqdm

from lowlight.bulk.items import EnhanceFailure, Enhanced, ReadFailure, VideoResult, write_outputs
from lowlight.bulk.report import Report

#: ``trainer.callback_metrics`` keys of the job's totals, all ranks together
TOTAL_KEYS = ("bulk/images", "bulk/failed", "bulk/skipped", "bulk/seconds")


class AtomicPngWriter(BasePredictionWriter):
    """Writes every enhanced image (and std map) as an 8-bit PNG under a temporary name, then
    renames it (:func:`lowlight.io.images.write_png`), on the rank that enhanced it.

    Bad inputs get one error line each (on the rank that met them); global rank 0 shows a
    progress bar over its own share (``total``: see :meth:`on_predict_start`). Counts inputs
    written and failed; the plan's own refusals and skips are added on rank 0 from the
    datamodule's ``plan_counts`` (``(refused, skipped)``) when it has them.

    Args:
        report: where error lines go.
        progress: show rank 0's progress bar.
    """

    def __init__(self, report: Report, progress: bool = True) -> None:
        super().__init__(write_interval="batch")
        self.report = report
        self.progress = progress
        self.written = 0
        self.failed = 0
        self._bar: tqdm | None = None
        self._start = 0.0

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.written = self.failed = 0
        self._start = time.perf_counter()
        if self.progress and trainer.is_global_zero:
            total = getattr(trainer.datamodule, "share", None)
            desc = "enhancing" if trainer.world_size == 1 else f"enhancing (rank 0 of {trainer.world_size})"
            self._bar = tqdm(total=total, unit="img", desc=desc, file=sys.stderr)

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Sequence[int] | None, batch: Any, batch_idx: int,
                           dataloader_idx: int) -> None:
        if isinstance(prediction, (Enhanced, EnhanceFailure)):
            written, failed = write_outputs(prediction, self.report)
        elif isinstance(prediction, ReadFailure):
            self.report.error(prediction.message)
            written, failed = 0, 1
        elif isinstance(prediction, VideoResult):
            written, failed = int(prediction.ok), int(not prediction.ok)
        else:
            raise TypeError(f"unexpected prediction {type(prediction).__name__}")
        self.written += written
        self.failed += failed
        if self._bar is not None:
            self._bar.update(written + failed)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        refused, skipped = getattr(trainer.datamodule, "plan_counts", (0, 0)) if trainer.is_global_zero else (0, 0)
        counts = torch.tensor([self.written, self.failed + refused, skipped], dtype=torch.float64,
                              device=pl_module.device)
        totals = trainer.strategy.reduce(counts, reduce_op="sum")  # waits for every rank
        seconds = time.perf_counter() - self._start
        values = [*totals.cpu().tolist(), seconds]
        trainer.callback_metrics.update({key: torch.tensor(v) for key, v in zip(TOTAL_KEYS, values, strict=True)})
