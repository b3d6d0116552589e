from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.metrics.quality import TimeStats
from lowlight.evaluation.report import (
    k_sweep,
    markdown_table,
    render_contact_sheet,
    results_markdown,
    write_results,
)
from lowlight.evaluation.runner import ContactSheet, EvaluationResult, MethodSummary, PairResult


def _pair(method: str, version: int | None, psnr: float, f1: float) -> PairResult:
    return PairResult(
        method, "a.png", 0, "bright" if version is None else "dark", version,
        1.0 if version is None else 2.0 + version, psnr, 0.5, 0.25, 0.75, f1,
    )


def _result() -> EvaluationResult:
    pairs = [
        _pair("dark", 0, 10.0, 0.2),
        _pair("dark", 1, 12.0, 0.4),
        _pair("dark", None, math.inf, 1.0),
        _pair("lime", 0, 15.0, 0.5),
        _pair("lime", 1, 17.0, 0.3),
        _pair("lime", None, 11.0, 0.6),
    ]
    tiles = [[torch.zeros(3, 16, 16), torch.ones(3, 16, 16)]]
    sheet = ContactSheet(["dark", "lime"], ["a.png"], tiles)
    times = {"dark": TimeStats(1e-5, 3, 2), "lime": TimeStats(0.2, 3, 2)}
    return EvaluationResult(
        "a", ["a.png"], [0, 1], [2.0, 3.0], ["dark", "lime"], pairs, times, sheet
    )


def test_markdown_table_rows() -> None:
    row = MethodSummary("lime", "dark", 2, 0, 16.0, 0.5, 0.25, 0.75, 0.4, 200.0)
    text = markdown_table([row])
    lines = text.splitlines()
    assert lines[0] == "| method | PSNR | SSIM | SIFT P | SIFT R | SIFT F1 | time (ms) |"
    assert lines[2] == "| lime | 16.00 | 0.5000 | 0.2500 | 0.7500 | 0.4000 | 200.00 |"


def test_results_markdown_has_both_tables() -> None:
    text = results_markdown(_result(), time_calls=3)
    assert "## Protocol A: 1 images x 2 versions (2 pairs per method)" in text
    assert "| lime | 16.00 | 0.5000 | 0.2500 | 0.7500 | 0.4000 | 200.00 |" in text
    assert "median of 3 calls" in text and "2 torch thread(s)" in text
    bright = text.split("### Bright input")[1]
    assert "| dark | - | 0.5000 | 0.2500 | 0.7500 | 1.0000 | 1/1 |" in bright
    assert "| lime | 11.00 |" in bright


def test_write_results_files(tmp_path: Path) -> None:
    paths = write_results(_result(), tmp_path / "out", time_calls=3)
    assert all(p.is_file() for p in paths.values())
    with paths["csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[2]["psnr"] == "inf" and rows[2]["version"] == ""
    data = json.loads(paths["json"].read_text())
    assert data["pairs"][2]["psnr"] is None and data["pairs"][3]["psnr"] == 15.0
    assert data["summary"][1]["psnr"] == 16.0 and data["threads"] == 2
    assert [r["method"] for r in data["bright"]] == ["dark", "lime"]
    with Image.open(paths["sheet"]) as sheet:
        assert sheet.size == (2 * 256, 256 + 20)
    assert not list((tmp_path / "out").glob(".*.lowlight-tmp"))


def test_contact_sheet_layout() -> None:
    tiles = [[torch.zeros(3, 10, 20), torch.ones(3, 10, 20)] for _ in range(2)]
    sheet = render_contact_sheet(ContactSheet(["in", "out"], ["x", "y"], tiles), cell=40)
    assert sheet.shape == (2 * (40 + 20), 80, 3) and sheet.dtype == np.uint8
    # A 10 x 20 tile fits a 40 x 40 cell as 20 x 40, centred: black bars above and below.
    second_cell = sheet[20:60, 40:80]
    assert (second_cell[10:30] == 255).all() and (second_cell[:10] == 0).all()
    with pytest.raises(ValueError, match="every row needs 2 tiles"):
        render_contact_sheet(ContactSheet(["in", "out"], ["x"], [[torch.zeros(3, 4, 4)]]))


def _sweep_result() -> EvaluationResult:
    pairs = [
        _pair(name, version, psnr + version, 0.1 * k / 10)
        for name, k, psnr in (("cm k=30", 30, 20.0), ("cm k=10", 10, 18.0), ("lm k=10", 10, 15.0), ("dark", 0, 9.0))
        for version in (0, 1)
    ]
    methods = ["cm k=30", "cm k=10", "lm k=10", "dark"]
    sheet = ContactSheet(methods, ["a.png"], [[torch.zeros(3, 8, 8)] * 4])
    times = {name: TimeStats(0.01, 3, 2) for name in methods}
    return EvaluationResult("b", ["a.png"], [0, 1], [2.0, 3.0], methods, pairs, times, sheet)


def test_k_sweep_groups_rows_run_at_several_k() -> None:
    sweeps = k_sweep(_sweep_result().summaries())
    assert list(sweeps) == ["cm"]  # lm ran at one k, dark has none
    assert [(k, row.method, row.psnr) for k, row in sweeps["cm"]] == [(10, "cm k=10", 18.5), (30, "cm k=30", 20.5)]


def test_k_plot_written_only_for_a_sweep(tmp_path: Path) -> None:
    paths = write_results(_sweep_result(), tmp_path / "sweep", time_calls=3)
    with Image.open(paths["k_plot"]) as plot:
        assert plot.size == (1500, 380)  # three panels: PSNR, SIFT F1, time
    assert "k_plot" not in write_results(_result(), tmp_path / "plain", time_calls=3)
    assert not (tmp_path / "plain" / "metrics_vs_k.png").exists()
