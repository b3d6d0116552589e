"""train.py with broken data and interruptions (issue 13): one line and exit 2, or exit 130; no traceback."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from lowlight.train import cli as train
from lowlight.train.cli import main
from tests.images import write_coco_split

REPO = Path(__file__).resolve().parents[2]


def _fit(tmp_path: Path, coco_json: Path, *extra: str) -> list[str]:
    return [
        "fit", "--config", str(REPO / "configs" / "rgb_cnn.yaml"),
        "--data.coco_train", f"[{coco_json}]", "--data.train_dirs", "[]", "--data.coco_val", f"[{coco_json}]",
        "--data.crop_size", "32", "--data.val_size", "32", "--data.batch_size", "2",
        "--data.samples_per_epoch", "2", "--data.num_workers", "0", "--trainer.logger", "false",
        "--trainer.enable_model_summary", "false", *extra,
    ]


@pytest.fixture(autouse=True)
def _quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["train.py"])


def _broken(tmp_path: Path, kind: str) -> Path:
    coco = write_coco_split(tmp_path / "coco", "train2017", count=2, size=(40, 48))
    if kind == "truncated":
        coco.write_text(coco.read_text()[:40])
    elif kind == "empty":
        coco.write_text("")
    elif kind == "list":
        coco.write_text("[]")
    elif kind == "no images key":
        coco.write_text(json.dumps({"annotations": []}))
    elif kind == "all missing":
        for image in (tmp_path / "coco" / "train2017").iterdir():
            image.unlink()
    return coco


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "not a valid JSON file"),
        ("empty", "not a valid JSON file"),
        ("list", "expected a COCO JSON object, got a list"),
        ("no images key", "no COCO 'images' list"),
        ("all missing", "none of the 2 images"),
    ],
)
def test_broken_coco_json_is_one_line_exit_2(tmp_path: Path, kind: str, message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    coco = _broken(tmp_path, kind)
    with pytest.raises(SystemExit) as exit_info:
        main(_fit(tmp_path, coco, "--trainer.fast_dev_run", "1"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("train.py: error:")]
    assert len(lines) == 1 and message in lines[0] and str(coco) in lines[0], err
    assert "Traceback" not in err


def test_ctrl_c_is_exit_130_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "apply_wandb_mode", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.strip() == "train.py: interrupted"


def test_fast_dev_run_writes_no_checkpoint(tmp_path: Path) -> None:
    coco = write_coco_split(tmp_path / "coco", "train2017", count=2, size=(40, 48))
    args = _fit(tmp_path, coco, "--trainer.fast_dev_run", "1")
    at = args.index("--trainer.logger")  # LearningRateMonitor needs a logger: a plain CSV one
    args[at + 1] = "lightning.pytorch.loggers.CSVLogger"
    cli = main([*args, "--trainer.logger.save_dir", str(tmp_path / "logs")])
    assert cli.trainer.global_step == 1
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("*.safetensors"))


def test_ctrl_c_during_fit_is_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from lowlight.data.datamodule import LowLightDataModule

    def interrupted(self: LowLightDataModule) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LowLightDataModule, "train_dataloader", interrupted)
    coco = write_coco_split(tmp_path / "coco", "train2017", count=2, size=(40, 48))
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(_fit(tmp_path, coco, "--trainer.fast_dev_run", "1", "--trainer.callbacks", "[]"))
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT while it shuts down
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "train.py: interrupted" in err and "Traceback" not in err
