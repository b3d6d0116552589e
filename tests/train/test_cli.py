"""train.py through its LightningCLI on generated images: checkpoints, offline W&B run, resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import wandb

from lowlight.enhance.checkpoints import load_reference_cnn
from lowlight.train.cli import main
from tests.images import write_coco_split, write_images

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_wandb() -> Iterator[None]:
    """wandb keeps process-wide settings (its run folder); each test starts from none."""
    wandb.teardown()
    yield
    wandb.teardown()


def _args(tmp_path: Path, config: str, extra: list[str]) -> list[str]:
    train_json = write_coco_split(tmp_path / "coco", "train2017", count=4, size=(40, 48))
    val_json = write_coco_split(tmp_path / "coco", "val2017", count=2, size=(40, 48), seed=5)
    folder = tmp_path / "photos"
    write_images(folder, count=2, size=(36, 36))
    return [
        "fit", "--config", str(REPO / "configs" / config),
        "--data.coco_train", f"[{train_json}]", "--data.train_dirs", f"[{folder}]",
        "--data.coco_val", f"[{val_json}]", "--data.crop_size", "32", "--data.val_size", "32",
        "--data.batch_size", "2", "--data.samples_per_epoch", "4", "--data.num_workers", "0",
        "--trainer.limit_val_batches", "1", "--trainer.enable_model_summary", "false",
        *extra,
    ]


@pytest.mark.parametrize("config", ["rgb_cnn.yaml", "y_cnn.yaml"])
def test_fit_writes_checkpoints_and_offline_run_then_resumes(
    tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)  # the configs' relative run folders (wandb/, runs/) land here
    monkeypatch.setattr("sys.argv", ["train.py"])
    ckpt_dir = tmp_path / "runs" / config.removesuffix(".yaml") / "checkpoints"
    cli = main(_args(tmp_path, config, ["--trainer.max_epochs", "1"]))
    assert cli.trainer.global_step == 2
    assert (ckpt_dir / "last.ckpt").is_file()
    assert any(p.name.startswith("epoch000-psnr") for p in ckpt_dir.glob("*.ckpt"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    exported = ckpt_dir / "reference_cnn.safetensors"
    loaded = load_reference_cnn(exported)
    assert loaded.channels == ("y" if config.startswith("y") else "rgb")
    assert float(loaded.metadata["best_val_psnr"]) > 0
    # Lightning checkpoints hold plain data only: they load with weights_only=True.
    state = torch.load(ckpt_dir / "last.ckpt", weights_only=True)
    assert state["global_step"] == 2

    resumed = main(_args(tmp_path, config, ["--trainer.max_epochs", "2", "--ckpt_path", str(ckpt_dir / "last.ckpt")]))
    assert resumed.trainer.global_step == 4
    assert resumed.trainer.current_epoch == 2


def test_missing_data_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["train.py"])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / "rgb_cnn.yaml"),
              "--data.coco_train", f"[{tmp_path / 'nope.json'}]", "--trainer.fast_dev_run", "1",
              "--trainer.logger", "false"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and "Traceback" not in err
