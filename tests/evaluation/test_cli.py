from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lowlight.baselines import classic as baselines
from lowlight.evaluation.cli import main
from lowlight.evaluation.images import load_ground_truth
from lowlight.protocols import GAMMAS_A, darken_a, darken_b
from tests.conftest import REPO_ROOT
from tests.wandb_reader import read_offline_run

FAST = ["--methods", "dark,auto-gamma,oracle", "--max-images", "2", "--time-calls", "2",
        "--versions", "3", "--no-progress"]


def _psnr(enhanced: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((enhanced.astype(np.float64) - truth) ** 2)))


def test_protocol_a_end_to_end(photo_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a"
    assert main(["--images", str(photo_folder), "--out", str(out), *FAST]) == 0
    stdout = capsys.readouterr().out
    for name in ("results.md", "per_image.csv", "results.json", "contact_sheet.png"):
        assert (out / name).is_file()
    data = json.loads((out / "results.json").read_text())
    assert data["versions"] == [0, 12, 24] and len(data["images"]) == 2
    assert len(data["pairs"]) == 2 * (3 + 1) * 3
    assert stdout.strip() == (out / "results.md").read_text().strip()
    # The dark and auto-gamma rows, recomputed directly.
    truths = [load_ground_truth(p) for p in sorted(photo_folder.iterdir())[:2]]
    expected = {"dark": [], "auto-gamma": []}
    for truth in truths:
        for version in (0, 12, 24):
            dark = darken_a(truth, float(GAMMAS_A[version]))
            expected["dark"].append(_psnr(dark.numpy(), truth.double().numpy()))
            enhanced = baselines.auto_gamma(dark)
            expected["auto-gamma"].append(_psnr(enhanced.numpy(), truth.double().numpy()))
    rows = {row["method"]: row for row in data["summary"]}
    for name, values in expected.items():
        assert rows[name]["psnr"] == pytest.approx(np.mean(values), abs=1e-4)
        assert f"| {name} | {np.mean(values):.2f} |" in stdout
    assert rows["oracle"]["psnr"] > rows["auto-gamma"]["psnr"] > rows["dark"]["psnr"]
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (5 * 256, 2 * (256 + 20))  # dark, 3 methods, ground truth


def test_protocol_b_end_to_end(photo_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "b"
    assert main(["--images", str(photo_folder), "--protocol", "b", "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    data = json.loads((out / "results.json").read_text())
    assert data["protocol"] == "b" and data["versions"] == [0, 4, 9]
    truth = load_ground_truth(sorted(photo_folder.iterdir())[1])[0].permute(1, 2, 0).numpy()
    pair = next(p for p in data["pairs"]
                if p["method"] == "dark" and p["image_index"] == 1 and p["version"] == 4)
    assert pair["psnr"] == pytest.approx(_psnr(darken_b(truth, 1, 4) / 255.0, truth), abs=1e-5)
    bright = {row["method"]: row for row in data["bright"]}
    assert bright["dark"]["identical"] == 2 and bright["dark"]["psnr"] is None


def test_no_reference(photo_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "real"
    argv = ["--images", str(photo_folder), "--no-reference", "--methods", "dark,oracle,auto-gamma",
            "--longer-side", "64", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert "skipping oracle (needs the true darkening)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["contact_sheet.png"]
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (3 * 64, 3 * (64 + 20))  # input, dark, auto-gamma; three images


def test_wandb_disabled_mode_runs(photo_folder: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    argv = ["--images", str(photo_folder), "--no-reference", "--methods", "dark",
            "--longer-side", "32", "--max-images", "1", "--out", str(tmp_path), "--no-progress",
            "--wandb"]
    assert main(argv) == 0


@pytest.mark.parametrize("protocol", ["a", "b"])
def test_native_resolution_darkens_the_enlarged_photo(photo_folder: Path, tmp_path: Path, capsys,
                                                      protocol: str) -> None:
    out = tmp_path / "native"
    argv = ["--images", str(photo_folder), "--protocol", protocol, "--native", "--upscale", "2", "--out", str(out),
            "--methods", "dark,cm-full,cm", "--max-images", "1", "--versions", "1", "--time-calls", "1", "--k", "8",
            "--no-progress"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    path = sorted(photo_folder.iterdir())[0]
    with Image.open(path) as image:
        width, height = image.size
    assert "at native resolution x 2" in stdout and f"one {2 * width} x {2 * height} image" in stdout
    data = json.loads((out / "results.json").read_text())
    rows = {row["method"]: row for row in data["summary"]}
    # photos this small fit the working size: the default and the full-resolution path agree
    assert rows["cm k=8"]["psnr"] == pytest.approx(rows["cm-full k=8"]["psnr"], abs=1e-6)
    assert rows["cm k=8"]["psnr"] > rows["dark"]["psnr"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--images", "/nonexistent/photos"], "no such file or folder"),
        (["--methods", "dark,sharpen"], "unknown method(s) sharpen; known: dark"),
        (["--protocol", "b", "--versions", "11"], "--versions 11: protocol B has only 10"),
        (["--no-reference", "--methods", "oracle"], "no method left to run without ground truth"),
        (["--upscale", "2"], "--upscale 2: only with --native"),
    ],
)
def test_user_mistakes_exit_2(photo_folder: Path, tmp_path: Path, capsys, extra, message) -> None:
    argv = ["--images", str(photo_folder), "--out", str(tmp_path), "--no-progress", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_not_coco_json_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    bad = tmp_path / "annotations" / "instances_val2017.json"
    bad.write_text(json.dumps([1, 2, 3]))
    assert main(["--images", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a COCO annotation file" in err[0]


def test_bad_wandb_mode_exits_2(photo_folder: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    assert main(["--images", str(photo_folder), "--wandb", "--out", str(tmp_path)]) == 2
    assert "WANDB_MODE must be one of" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter importing torch: ~20 s on a loaded 2-core machine
def test_module_entry_point_reports_missing_path(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "lowlight.evaluation", "--images", str(tmp_path / "missing")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    expected = f"error: {tmp_path / 'missing'}: no such file or folder"
    assert completed.stderr.strip().splitlines() == [expected]


def test_wandb_offline_logs_the_k_sweep(photo_folder: Path, tmp_path: Path, monkeypatch) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.teardown()  # settings are read once per process: drop those of an earlier W&B test
    argv = ["--images", str(photo_folder), "--methods", "dark,cm-2stage", "--k", "4,6", "--max-images", "1",
            "--versions", "1", "--time-calls", "1", "--sheet-images", "1", "--out", str(tmp_path / "out"),
            "--no-progress", "--wandb"]
    try:
        assert main(argv) == 0
    finally:
        wandb.teardown()  # the W&B service writes the rest of the run file when it stops
    assert (tmp_path / "out" / "metrics_vs_k.png").is_file()
    runs = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    _, history = read_offline_run(runs[0])
    logged = {key: value for row in history for key, value in row.items()}
    assert {"summary", "pairs", "k_sweep", "metrics_vs_k", "contact_sheet"} <= set(logged)
    assert logged["k_sweep"]["_type"] == "table-file" and logged["k_sweep"]["nrows"] == 2
    assert logged["metrics_vs_k"]["_type"] == "image-file"
    tables = list((runs[0].parent / "files" / "media" / "table").glob("k_sweep_*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert table["columns"][:2] == ["method", "k"] and [row[:2] for row in table["data"]] == [["cm-2stage", 4], ["cm-2stage", 6]]
