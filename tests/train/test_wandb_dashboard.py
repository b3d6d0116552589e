"""The W&B dashboard of end-to-end training: a tiny offline run through train.py, read back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from lowlight.train.cli import main
from tests.images import write_coco_split
from tests.wandb_reader import read_offline_run

#: what the dashboard's panels plot (see docs/e2e.md)
EXPECTED_KEYS = {
    "train/loss",
    "gp/log_lengthscale",
    "gp/log_signal_variance",
    "gp/log_noise_variance",
    "val/loss",
    "val/psnr",
    "val/ssim",
    "val/sift_f1",
    "val/ref_psnr",
    "val_b/psnr",
    "val_b/ssim",
    "val_b/sift_f1",
    "val/examples",
    "val/k_sweep",
    "lr-AdamW/pg1",
    "lr-AdamW/pg2",
}


def _config(tmp_path: Path) -> Path:
    train_json = write_coco_split(tmp_path / "coco", "train2017", count=3, size=(40, 48), seed=1)
    val_json = write_coco_split(tmp_path / "coco", "val2017", count=2, size=(40, 48), seed=2)
    config = {
        "seed_everything": 0,
        "model": {
            "class_path": "lowlight.train.EndToEndModule",
            "init_args": {
                "mode": "cm",
                "net": {"class_path": "lowlight.archs.CurveNet",
                        "init_args": {"thumbnail": 16, "width": 8, "refine_width": 8}},
                "gp": {"k": 6, "per_channel": False},
                "k_train": 4,
                "train_cluster_points": 256,
                "sift_images": 2,
                "k_sweep": [2, 6],
                "k_sweep_images": 1,
                "num_logged_images": 2,
            },
        },
        "data": {
            "coco_train": [str(train_json)],
            "coco_val": [str(val_json)],
            "crop_size": 32,
            "val_size": 32,
            "batch_size": 2,
            "samples_per_epoch": 4,
            "num_workers": 0,
        },
        "trainer": {
            "max_epochs": 1,
            "accelerator": "cpu",
            "devices": 1,
            "log_every_n_steps": 1,
            "num_sanity_val_steps": 0,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(tmp_path / "root"),
            "logger": {"class_path": "lightning.pytorch.loggers.WandbLogger",
                       "init_args": {"project": "lowlight-test", "name": "e2e-dashboard",
                                     "save_dir": str(tmp_path)}},
            "callbacks": [{"class_path": "lightning.pytorch.callbacks.LearningRateMonitor"}],
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_offline_run_logs_the_dashboard_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)  # LightningCLI writes its config.yaml into the run folder
    try:
        main(["fit", "--config", str(_config(tmp_path))])
    finally:
        # what the end of a train.py process does: finish the run, then stop the W&B service,
        # which writes the rest of the run file
        wandb.finish()
        wandb.teardown()
    runs = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    config, history = read_offline_run(runs[0])
    logged = {key for row in history for key in row}
    missing = EXPECTED_KEYS - logged
    assert not missing, f"not logged: {sorted(missing)}; logged: {sorted(logged)}"
    steps = [row["train/loss"] for row in history if "train/loss" in row]
    assert len(steps) == 2 and all(isinstance(v, float) and math.isfinite(v) for v in steps)
    last = {key: value for row in history for key, value in row.items()}
    assert last["val/examples"]["_type"] == "images/separated"
    assert last["val/k_sweep"]["_type"] == "table-file" and last["val/k_sweep"]["nrows"] == 2
    for key in ("val/psnr", "val/sift_f1", "val_b/ssim", "gp/log_lengthscale"):
        assert math.isfinite(last[key]), (key, last[key])
    assert config["k_train"] == 4 and config["gp"]["k"] == 6
    media = runs[0].parent / "files" / "media"
    grids = list(media.glob("images/val/examples_*.png"))
    assert len(grids) == 1 and list(media.glob("table/val/k_sweep_*.table.json"))
    grid = np.asarray(Image.open(grids[0]).convert("RGB"))
    # 2 images x 5 panels of 32 x 32 with 2-pixel padding; the photos are visible, not black
    assert grid.shape == (2 * 34 + 2, 5 * 34 + 2, 3)
    assert grid[2:34, 3 * 34 + 2 : 4 * 34].mean() > 20  # the ground-truth panel of the first row
