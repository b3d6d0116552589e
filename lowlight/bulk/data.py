"""The LightningDataModule of a bulk job: plan once on global rank 0, then each rank reads its share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader, IterableDataset

from lowlight.bulk.items import WorkItem, work_items
from lowlight.bulk.plan import PlanEvent, PlanFile, read_plan_share, share_size, write_plan_file
from lowlight.bulk.report import Report
from lowlight.io.atomic import remove_stale_temp_files


class PlanShare(IterableDataset):
    """Rank ``rank`` of ``world_size``'s work items: its share of a plan file, read as it goes.

    Args:
        plan: the plan file (see :mod:`lowlight.bulk.plan`).
        rank, world_size: this process's global rank and the number of processes.
        batch_size, max_pixels, report, check_size: as :func:`lowlight.bulk.items.work_items`.
    """

    def __init__(self, plan: Path, rank: int, world_size: int, batch_size: int, max_pixels: int,
                 report: Report, check_size: Callable[[Path, tuple[int, int]], None] | None = None) -> None:
        self.plan = plan
        self.rank = rank
        self.world_size = world_size
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.report = report
        self.check_size = check_size

    def __iter__(self) -> Iterator[WorkItem]:
        entries = read_plan_share(self.plan, self.rank, self.world_size)
        return work_items(entries, self.batch_size, self.max_pixels, self.report, self.check_size)


class PlanDataModule(L.LightningDataModule):
    """Plans the job on global rank 0 (``prepare_data``, the other ranks wait), then serves each
    rank its share of the plan as work items (one per step; decoding happens in the rank's own
    process, as in one process).

    Args:
        plan: makes the planner's events (called once, on global rank 0 only).
        folder: the output folder: it exists already and every rank can read it (on several
            nodes: a shared file system); the plan file is written there.
        batch_size: same-size images enhanced together.
        max_pixels: larger images are refused before decoding.
        report: where error, warning and note lines go.
        check_size: see :func:`lowlight.bulk.items.work_items`.
    """

    def __init__(self, plan: Callable[[], Iterable[PlanEvent]], folder: Path, batch_size: int,
                 max_pixels: int, report: Report,
                 check_size: Callable[[Path, tuple[int, int]], None] | None = None) -> None:
        super().__init__()
        self.prepare_data_per_node = False  # one plan for the whole job, by global rank 0
        self.plan = plan
        self.folder = Path(folder)
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.report = report
        self.check_size = check_size
        self.plan_file: PlanFile | None = None
        #: number of entries this rank enhances (for the progress bar), known after ``setup``
        self.share: int | None = None

    @property
    def plan_counts(self) -> tuple[int, int]:
        """``(refused, skipped)`` inputs of the plan: on global rank 0, zeros elsewhere."""
        return (0, 0) if self.plan_file is None or not self.trainer.is_global_zero else \
            (self.plan_file.refused, self.plan_file.skipped)

    def prepare_data(self) -> None:
        # global rank 0 only, before any rank writes: leftovers of killed runs go first (their
        # process ids are checked on this machine only, which is why no other rank removes any)
        remove_stale_temp_files(self.folder)
        self.plan_file = write_plan_file(self.plan(), self.folder, self.report)

    def setup(self, stage: str) -> None:
        info = None if self.plan_file is None else (str(self.plan_file.path), self.plan_file.planned)
        path, planned = self.trainer.strategy.broadcast(info, src=0)
        if self.plan_file is None:  # another rank: it knows only what rank 0 sent
            self.plan_file = PlanFile(Path(path), planned, 0, 0)
        self.share = share_size(planned, self.trainer.global_rank, self.trainer.world_size)

    def predict_dataloader(self) -> DataLoader:
        assert self.plan_file is not None, "setup() first"
        dataset = PlanShare(self.plan_file.path, self.trainer.global_rank, self.trainer.world_size,
                            self.batch_size, self.max_pixels, self.report, self.check_size)
        return DataLoader(dataset, batch_size=None, num_workers=0)

    def teardown(self, stage: str) -> None:
        if self.plan_file is not None and self.trainer.is_global_zero:
            self.plan_file.path.unlink(missing_ok=True)
