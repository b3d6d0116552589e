"""Bulk enhancement on many processes, GPUs and machines, through Lightning's ``Trainer.predict``.

``infer.py --devices N [--num-nodes M] [--accelerator gpu]`` plans the job once (global rank 0),
then every rank enhances its share of the plan with :class:`EnhanceModule` (the
:class:`~lowlight.enhance.enhancer.Enhancer`, unchanged) and writes its outputs atomically with
:class:`AtomicPngWriter`; Lightning (torch.distributed) starts and connects the processes, or
``torchrun`` / SLURM's ``srun`` do. The same pieces serve one process (:mod:`lowlight.bulk.items`).
"""

from lowlight.bulk.data import PlanDataModule, PlanShare
from lowlight.bulk.items import STD_WHITE, enhance_batch, work_items, write_outputs
from lowlight.bulk.module import EnhanceModule
from lowlight.bulk.plan import Noted, Planned, PlanEvent, PlanFile, Refused, Skipped, read_plan_share, write_plan_file
from lowlight.bulk.report import Report
from lowlight.bulk.run import BulkOptions, BulkTotals, enhance_with_lightning
from lowlight.bulk.writer import AtomicPngWriter

__all__ = [
    "STD_WHITE",
    "AtomicPngWriter",
    "BulkOptions",
    "BulkTotals",
    "EnhanceModule",
    "Noted",
    "PlanDataModule",
    "PlanEvent",
    "PlanFile",
    "PlanShare",
    "Planned",
    "Refused",
    "Report",
    "Skipped",
    "enhance_batch",
    "enhance_with_lightning",
    "read_plan_share",
    "work_items",
    "write_outputs",
    "write_plan_file",
]
