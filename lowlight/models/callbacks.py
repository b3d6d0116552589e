"""Callbacks for reference-CNN training."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from lowlight.checkpoints import export_lightning_checkpoint


class ExportSafetensors(L.Callback):
    """At the end of ``fit``, write the best checkpoint's CNN as a shipped safetensors file.

    The file lands beside the Lightning checkpoints (``<checkpoints dir>/<filename>``) unless
    ``path`` is given, and carries provenance metadata (best ``val/psnr``, steps, wall time).
    ``uv run infer.py --checkpoint FILE`` then uses it directly.

    Args:
        path: destination file; default ``<ModelCheckpoint.dirpath>/reference_cnn.safetensors``.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.exported: Path | None = None
        self._start = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        ckpt = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        if ckpt is None:
            return
        source = ckpt.best_model_path or ckpt.last_model_path
        if not source:
            return
        out = Path(self.path) if self.path else Path(ckpt.dirpath) / "reference_cnn.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        score = ckpt.best_model_score
        metadata = {
            "source_checkpoint": Path(source).name,
            "global_step": str(trainer.global_step),
            "fit_seconds": f"{time.perf_counter() - self._start:.0f}",
            "best_val_psnr": f"{float(score):.3f}" if score is not None else "",
            "module_hparams": json.dumps({k: str(v) for k, v in pl_module.hparams.items()}),
        }
        export_lightning_checkpoint(Path(source), out, pl_module.net, pl_module.channels, metadata)
        self.exported = out
        print(f"exported {Path(source).name} -> {out}")
