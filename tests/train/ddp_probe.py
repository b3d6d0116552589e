"""A callback the DDP tests add to ``train.py`` (``--trainer.callbacks+=tests.train.ddp_probe.RecordKeys``).

Each rank records the ``(epoch, index)`` keys its training dataset was asked for and, per
validation set, the indices of the images it validated; at the end of ``fit`` it writes them, with
the final validation figures, to ``$LOWLIGHT_DDP_PROBE/rank<global rank>.json``.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L

from lowlight.data.datasets import LowLightTrainDataset

#: environment variable naming the folder the records go to
PROBE_ENV = "LOWLIGHT_DDP_PROBE"


class RecordKeys(L.Callback):
    """Records what this rank read and validated (see the module doc)."""

    def __init__(self) -> None:
        self.keys: dict[int, list[int]] = defaultdict(list)
        self.validated: dict[int, list[int]] = defaultdict(list)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        original = LowLightTrainDataset.__getitem__
        keys = self.keys

        def recording(dataset: LowLightTrainDataset, key: int | tuple[int, int]) -> Any:
            if isinstance(key, tuple):
                keys[key[0]].append(key[1])
            return original(dataset, key)

        LowLightTrainDataset.__getitem__ = recording  # type: ignore[method-assign]  # this process only

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self.validated[dataloader_idx].extend(batch["index"].tolist())

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = Path(os.environ[PROBE_ENV])
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "keys": {str(epoch): indices for epoch, indices in self.keys.items()},
            "validated": {str(loader): indices for loader, indices in self.validated.items()},
            "metrics": {name: float(value) for name, value in trainer.callback_metrics.items()},
            "global_step": trainer.global_step,
        }
        (folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))
