"""Enhance a planned job with ``Trainer.predict`` on one or many processes, GPUs and machines."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning as L
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from lowlight.bulk.data import PlanDataModule
from lowlight.bulk.module import EnhanceModule, VideoHandler
from lowlight.bulk.plan import PlanEvent
from lowlight.bulk.report import Report
from lowlight.bulk.writer import TOTAL_KEYS, AtomicPngWriter
from lowlight.enhance.enhancer import Enhancer

Accelerator = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class BulkOptions:
    """Where and how a bulk job runs (Lightning's names).

    Attributes:
        accelerator: ``"cpu"`` or ``"gpu"`` (CUDA).
        devices: processes per machine: CPU processes, or GPUs (one process each).
        num_nodes: machines.
        strategy: Lightning's strategy; default (``None``): ``"ddp"`` for more than one process
            (Lightning starts the other ranks by running the same command, unless ``torchrun`` or
            SLURM started them), else ``"auto"`` (this process). ``"ddp_fork"`` / ``"ddp_spawn"``
            serve a notebook or a test; an explicit ``"ddp"`` on one device runs one rank of DDP.
        batch_size: same-size images enhanced together (the output does not depend on it).
        max_pixels: larger images are refused before decoding.
        uncertainty: also write the ``_std`` maps.
        progress: rank 0's progress bar.
    """

    accelerator: Accelerator = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str | None = None
    batch_size: int = 1
    max_pixels: int = 64_000_000
    uncertainty: bool = False
    progress: bool = True

    @property
    def world_size(self) -> int:
        """Number of processes of the job."""
        return self.devices * self.num_nodes


@dataclass(frozen=True)
class BulkTotals:
    """What the job did, all ranks together.

    Attributes:
        images: inputs enhanced and written.
        failed: inputs refused by the plan or failed (unreadable, enhancement or write failed).
        skipped: inputs whose outputs existed (``--skip-existing``).
        seconds: wall time of the enhancement on rank 0 (planning and start-up excluded).
        report_here: this process is the one that reports (global rank 0, or the process that
            launched forked ranks).
    """

    images: int
    failed: int
    skipped: int
    seconds: float
    report_here: bool

    @property
    def images_per_second(self) -> float:
        """Enhanced inputs per second of :attr:`seconds` (0 when nothing took time)."""
        return self.images / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's start-up lines (devices found, tips) and its advice about DataLoader workers
    are not the user's business here."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=PossibleUserWarning)
            # the work items carry no dataset indices (the writer does not need them)
            warnings.filterwarnings("ignore", message="Couldn't infer the batch indices")
            # torch 2.13 deprecates an isinstance check inside Lightning 2.6's batch handling
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def enhance_with_lightning(
    enhancer: Enhancer,
    plan: Callable[[], Iterable[PlanEvent]],
    folder: Path,
    options: BulkOptions,
    report: Report | None = None,
    check_size: Callable[[Path, tuple[int, int]], None] | None = None,
    video: VideoHandler | None = None,
) -> BulkTotals:
    """Enhance every planned input once, across ``options.world_size`` processes.

    Global rank 0 plans (``plan()``, its error lines printed there), every rank enhances its
    share of the plan (``Trainer.predict`` around :class:`EnhanceModule`) and writes its outputs
    (:class:`AtomicPngWriter`); the counts are summed across ranks.

    Args:
        enhancer: the enhancer (any device; Lightning moves it to each rank's).
        plan: makes the plan's events (called on global rank 0 only).
        folder: the output folder (created already; shared by every rank).
        options: see :class:`BulkOptions`.
        report: where the one-line messages go (default ``infer.py``'s).
        check_size: called with each image's path and size before it is batched.
        video: how video inputs are enhanced.

    Returns:
        :class:`BulkTotals` (the same on every rank).

    Raises:
        KeyboardInterrupt: Ctrl-C (after Lightning's graceful shutdown).
    """
    report = report or Report()
    distributed = options.world_size > 1
    with _quiet_lightning():
        trainer = L.Trainer(
            accelerator=options.accelerator, devices=options.devices, num_nodes=options.num_nodes,
            strategy=options.strategy or ("ddp" if distributed else "auto"),
            logger=False, enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
            use_distributed_sampler=False, inference_mode=True,
            callbacks=[AtomicPngWriter(report, progress=options.progress)],
        )
        datamodule = PlanDataModule(plan, folder, options.batch_size, options.max_pixels, report, check_size)
        module = EnhanceModule(enhancer, uncertainty=options.uncertainty, video=video)
        try:
            trainer.predict(module, datamodule=datamodule, return_predictions=False)
        except SystemExit:
            if trainer.interrupted:  # Lightning turns Ctrl-C into a graceful shutdown and exit 1
                raise KeyboardInterrupt from None
            raise
    metrics = trainer.callback_metrics
    images, failed, skipped, seconds = (float(metrics[key]) for key in TOTAL_KEYS)
    return BulkTotals(int(images), int(failed), int(skipped), seconds, trainer.is_global_zero)
