"""Callbacks shared by the training modules."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from lowlight.enhance.checkpoints import export_lightning_checkpoint


class ExportSafetensors(L.Callback):
    """At the end of ``fit``, write the best checkpoint's CNN as a shipped safetensors file.

    The file lands beside the Lightning checkpoints (``<checkpoints dir>/<default_name>``) unless
    ``path`` is given, and carries provenance metadata (best ``val/psnr``, steps, wall time).
    ``uv run infer.py --checkpoint FILE`` then uses it directly. Subclasses change what is
    written by overriding :meth:`export`.

    Args:
        path: destination file; default ``<ModelCheckpoint.dirpath>/<default_name>``.
    """

    default_name = "reference_cnn.safetensors"

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
        source = None if ckpt is None else (ckpt.best_model_path or ckpt.last_model_path)
        if ckpt is None or not source:
            return
        out = Path(self.path) if self.path else Path(ckpt.dirpath) / self.default_name
        out.parent.mkdir(parents=True, exist_ok=True)
        score = ckpt.best_model_score
        metadata = {
            "source_checkpoint": Path(source).name,
            "global_step": str(trainer.global_step),
            "fit_seconds": f"{time.perf_counter() - self._start:.0f}",
            "best_val_psnr": f"{float(score):.3f}" if score is not None else "",
            "module_hparams": json.dumps({k: str(v) for k, v in pl_module.hparams.items()}),
        }
        self.export(pl_module, Path(source), out, metadata)
        self.exported = out
        print(f"exported {Path(source).name} -> {out}")

    def export(self, pl_module: L.LightningModule, source: Path, out: Path, metadata: dict[str, str]) -> None:
        """Write ``out`` from the Lightning checkpoint ``source`` (read with weights_only=True)."""
        export_lightning_checkpoint(source, out, pl_module.net, pl_module.channels, metadata)
