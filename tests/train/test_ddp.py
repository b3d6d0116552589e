"""train.py with two CPU processes (DDP over gloo) on generated images.

Checked: each rank reads its own share of every epoch (disjoint, together the whole epoch) and
validates its own share of each validation set; the validation figures, synced across the ranks,
equal those of one process with the same global batch (2 x 2 = 1 x 4) within 0.01 dB / 1e-4 SSIM
(the two runs differ only in floating-point summation order); the safetensors export and the W&B
run happen once (rank 0); a DDP run resumes from its ``last.ckpt``.

The default run forks the two ranks from the test process (``ddp_fork``: no second import of
torch and Lightning); the slow tests run the documented commands in fresh processes: Lightning's
own launcher (``--trainer.strategy ddp --trainer.devices 2``) and torchrun-style ranks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import wandb

from lowlight.enhance.checkpoints import load_reference_cnn
from lowlight.train.cli import main
from tests.distributed import REPO, run_like_torchrun
from tests.images import write_coco_split, write_images
from tests.train.ddp_probe import PROBE_ENV

#: the same images in a 2-process run and in one process: PSNR in dB, SSIM
PSNR_TOLERANCE, SSIM_TOLERANCE = 0.01, 1e-4
VAL_IMAGES = 5  # odd: the ranks validate 3 and 2 images


@pytest.fixture(autouse=True)
def _fresh_wandb_and_threads() -> Iterator[None]:
    """wandb keeps process-wide settings; Lightning's fork launcher sets torch's thread count (and
    OMP_NUM_THREADS) in this process for its children: both are restored afterwards."""
    wandb.teardown()
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    yield
    wandb.teardown()
    torch.set_num_threads(threads)
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp


def _data_args(tmp_path: Path, config: str = "rgb_cnn.yaml", batch_size: int = 2) -> list[str]:
    train_json = write_coco_split(tmp_path / "coco", "train2017", count=8, size=(40, 48))
    val_json = write_coco_split(tmp_path / "coco", "val2017", count=VAL_IMAGES, size=(40, 48), seed=5)
    folder = tmp_path / "photos"
    write_images(folder, count=3, size=(36, 36))
    return [
        "fit", "--config", str(REPO / "configs" / config),
        "--data.coco_train", f"[{train_json}]", "--data.train_dirs", f"[{folder}]",
        "--data.coco_val", f"[{val_json}]", "--data.crop_size", "32", "--data.val_size", "32",
        "--data.batch_size", str(batch_size), "--data.samples_per_epoch", "8", "--data.num_workers", "0",
        "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.accelerator", "cpu", "--trainer.callbacks+=tests.train.ddp_probe.RecordKeys",
    ]


def _records(folder: Path, world: int) -> list[dict]:
    records = [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(world)]
    assert [r["rank"] for r in records] == list(range(world)) and {r["world_size"] for r in records} == {world}
    return records


def _val(record: dict) -> dict[str, float]:
    """The validation figures of a rank's record (``train/loss`` is each rank's own)."""
    return {name: value for name, value in record["metrics"].items() if name.startswith("val")}


def _check_shares(records: list[dict], epoch: int, length: int) -> None:
    """Training keys of ``epoch``: disjoint across ranks, together ``0 .. length - 1``; each
    validation set: disjoint, together every image once."""
    shares = [r["keys"][str(epoch)] for r in records]
    everything = [index for share in shares for index in share]
    assert len(everything) == len(set(everything)) and sorted(everything) == list(range(length))
    assert all(len(share) == length // len(records) for share in shares)
    for loader in ("0", "1"):  # val/a, val/b
        validated = [index for r in records for index in r["validated"][loader]]
        assert sorted(validated) == list(range(VAL_IMAGES))


def _check_same_figures(ddp: dict[str, float], single: dict[str, float]) -> None:
    for prefix in ("val", "val_b"):
        assert ddp[f"{prefix}/psnr"] == pytest.approx(single[f"{prefix}/psnr"], abs=PSNR_TOLERANCE)
        assert ddp[f"{prefix}/ssim"] == pytest.approx(single[f"{prefix}/ssim"], abs=SSIM_TOLERANCE)
    assert ddp["val/loss"] == pytest.approx(single["val/loss"], rel=1e-3)


def test_two_processes_share_the_epoch_and_match_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Two forked ranks vs one process, same data, same global batch; one export, one W&B run."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setattr("sys.argv", ["train.py"])
    args = _data_args(tmp_path / "data")
    lr = ["--model.init_args.lr", "0.005", "--trainer.max_epochs", "1"]  # large steps: a wrong batch shows

    ddp_dir = tmp_path / "ddp"
    ddp_dir.mkdir()
    monkeypatch.chdir(ddp_dir)
    monkeypatch.setenv(PROBE_ENV, str(ddp_dir / "probe"))
    main([*args, *lr, "--trainer.strategy", "ddp_fork", "--trainer.devices", "2"])
    records = _records(ddp_dir / "probe", 2)
    _check_shares(records, epoch=0, length=8)
    assert _val(records[0]) == _val(records[1])  # synced: every rank has the same figures
    out = capfd.readouterr().out
    assert out.count("exported ") == 1
    checkpoints = ddp_dir / "runs" / "rgb_cnn" / "checkpoints"
    assert load_reference_cnn(checkpoints / "reference_cnn.safetensors").channels == "rgb"
    assert len(list((ddp_dir / "wandb").glob("offline-run-*"))) == 1

    one_dir = tmp_path / "one"
    one_dir.mkdir()
    monkeypatch.chdir(one_dir)
    monkeypatch.setenv(PROBE_ENV, str(one_dir / "probe"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    one_args = _data_args(tmp_path / "data", batch_size=4)
    main([*one_args, *lr])
    (single,) = _records(one_dir / "probe", 1)
    assert single["global_step"] == records[0]["global_step"] == 2
    _check_same_figures(records[0]["metrics"], single["metrics"])


def _train_command(args: list[str]) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), *args]


def _probe_env(folder: Path) -> dict[str, str]:
    return {PROBE_ENV: str(folder), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "PYTHONPATH": str(REPO)}  # the probe callback is a module of the tests package


@pytest.mark.slow
def test_documented_command_with_lightnings_launcher_then_resume(tmp_path: Path) -> None:
    """``train.py fit ... --trainer.strategy ddp --trainer.devices 2`` as a user runs it (Lightning
    starts rank 1), then the same command resumed from ``last.ckpt`` for a second epoch."""
    import subprocess

    args = [*_data_args(tmp_path / "data"), "--trainer.strategy", "ddp", "--trainer.devices", "2"]
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, **_probe_env(tmp_path / "probe0")}
    first = subprocess.run(_train_command([*args, "--trainer.max_epochs", "1"]), cwd=work, env=env,
                           capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    _check_shares(_records(tmp_path / "probe0", 2), epoch=0, length=8)
    assert first.stdout.count("exported ") == 1
    last = work / "runs" / "rgb_cnn" / "checkpoints" / "last.ckpt"
    env = {**os.environ, **_probe_env(tmp_path / "probe1")}
    resumed = subprocess.run(_train_command([*args, "--trainer.max_epochs", "2", "--ckpt_path", str(last)]),
                             cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = _records(tmp_path / "probe1", 2)
    assert all(list(r["keys"]) == ["1"] for r in records)  # epoch 0 is not read again
    _check_shares(records, epoch=1, length=8)
    assert records[0]["global_step"] == 4
    assert torch.load(last, weights_only=True)["global_step"] == 4
    assert len(list((work / "wandb").glob("offline-run-*"))) == 2  # one per command, from rank 0


@pytest.mark.slow
@pytest.mark.parametrize("config", ["rgb_cnn.yaml", "e2e_cm.yaml"])
def test_torchrun_style_ranks(tmp_path: Path, config: str) -> None:
    """Both ranks started at once with torchrun's environment (as ``torchrun`` or SLURM's ``srun``
    start them): the end-to-end config too (its export, SIFT F1 and loss synced)."""
    extra = ["--model.init_args.k_sweep", "[4]", "--model.init_args.sift_images", "3",
             "--model.init_args.checkpoint", str(REPO / "checkpoints" / "rgb_cnn.safetensors")] if config.startswith("e2e") else []
    args = [*_data_args(tmp_path / "data", config), "--trainer.strategy", "ddp", "--trainer.devices", "2",
            "--trainer.max_epochs", "1", *extra]
    work = tmp_path / "work"
    work.mkdir()
    results = run_like_torchrun(_train_command(args), 2, cwd=work, env=_probe_env(tmp_path / "probe"), timeout=900)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    records = _records(tmp_path / "probe", 2)
    _check_shares(records, epoch=0, length=8)
    assert _val(records[0]) == _val(records[1])
    assert sum(r.stdout.count("exported ") for r in results) == 1
    assert len(list((work / "wandb").glob("offline-run-*"))) == 1
