"""``--pairs``: real (dark, bright) pairs scored at their own resolution."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lowlight.evaluation.cli import main
from lowlight.evaluation.pairs import PairSourceError, pair_paths
from tests.data.test_brackets import write_brackets
from tests.images import structured_image


def write_low_high(folder: Path, sizes: list[tuple[int, int]]) -> None:
    for name in ("low", "high"):
        (folder / name).mkdir(parents=True)
    for index, (height, width) in enumerate(sizes):
        bright = structured_image(height, width, seed=index)
        dark = np.round(255 * (bright / 255.0) ** 3).astype(np.uint8)
        Image.fromarray(bright).save(folder / "high" / f"p{index}.png")
        Image.fromarray(dark).save(folder / "low" / f"p{index}.png")


def test_low_high_pairs_are_scored_at_their_own_size(tmp_path: Path, capsys) -> None:
    write_low_high(tmp_path / "lol", [(40, 60), (52, 36)])
    out = tmp_path / "out"
    status = main(["--pairs", str(tmp_path / "lol"), "--methods", "dark,auto-gamma,oracle",
                   "--out", str(out), "--no-progress"])
    assert status == 0
    captured = capsys.readouterr()
    assert "skipping oracle" in captured.err
    data = json.loads((out / "results.json").read_text())
    rows = {r["method"]: r for r in data["summary"]}
    assert data["pairs"] == 2 and set(rows) == {"dark", "auto-gamma"}
    # The dark row, recomputed independently at each pair's own resolution (float64).
    psnrs = []
    for index in range(2):
        high = np.asarray(Image.open(tmp_path / "lol" / "high" / f"p{index}.png"), np.float64) / 255
        low = np.asarray(Image.open(tmp_path / "lol" / "low" / f"p{index}.png"), np.float64) / 255
        psnrs.append(10 * math.log10(1 / np.mean((low - high) ** 2)))
    assert rows["dark"]["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-3)
    assert rows["auto-gamma"]["psnr"] > rows["dark"]["psnr"]
    assert (out / "contact_sheet.png").is_file() and (out / "per_image.csv").is_file()


def test_bracket_source_scores_the_held_out_scenes(tmp_path: Path) -> None:
    # Scenes are named by their first frame: 1, 6, ..., 26; the name hash holds out "26" only.
    write_brackets(tmp_path / "sice", scenes=6, size=32)
    every = pair_paths(tmp_path / "sice", "all")
    held = pair_paths(tmp_path / "sice", "val_real")
    assert held and set(held) < set(every)
    assert all(26 <= int(dark.stem) < int(bright.stem) <= 30 for dark, bright in held)


def test_pair_source_errors(tmp_path: Path, capsys) -> None:
    write_low_high(tmp_path / "lol", [(20, 20)])
    (tmp_path / "lol" / "high" / "p0.png").rename(tmp_path / "lol" / "high" / "other.png")
    with pytest.raises(PairSourceError, match="no high/ partner for p0.png"):
        pair_paths(tmp_path / "lol")
    assert main(["--pairs", str(tmp_path / "lol"), "--methods", "dark", "--no-progress"]) == 2
    assert main(["--pairs", str(tmp_path / "missing"), "--methods", "dark"]) == 2
    assert "not found" in capsys.readouterr().err
