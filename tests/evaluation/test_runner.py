from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lowlight.evaluation.images import load_ground_truth
from lowlight.evaluation.methods import Method, build_methods
from lowlight.protocols import GAMMAS_A, GAMMAS_B, darken_b
from lowlight.evaluation.runner import (
    RunOptions,
    run_protocol,
    run_without_reference,
)


def _numpy_psnr(enhanced: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((enhanced - truth) ** 2)))


@pytest.fixture(scope="module")
def result_a(photo_folder: Path):
    paths = sorted(photo_folder.iterdir())[:2]
    options = RunOptions(protocol="a", versions=2, time_calls=2, sheet_images=1, progress=False)
    return run_protocol(paths, build_methods(["dark", "oracle"]), options), paths


def test_pairs_cover_images_versions_methods(result_a) -> None:
    result, paths = result_a
    assert result.versions == [0, 24] and result.gammas == [2.0, 6.0]
    assert len(result.pairs) == 2 * 3 * 2  # images x (versions + bright) x methods
    assert {p.image for p in result.pairs} == {p.name for p in paths}
    assert set(result.times) == {"dark", "oracle"} and result.times["dark"].calls == 2


def test_dark_row_equals_hand_computation(result_a) -> None:
    result, paths = result_a
    for pair in (p for p in result.pairs if p.method == "dark" and p.input == "dark"):
        truth = load_ground_truth(paths[pair.image_index])[0].double().numpy()  # (3, H, W)
        dark = np.round(truth ** GAMMAS_A[pair.version] * 255) / 255
        assert pair.psnr == pytest.approx(_numpy_psnr(dark, truth), abs=1e-5)
    bright = [p for p in result.pairs if p.method == "dark" and p.input == "bright"]
    assert all(p.psnr == math.inf and p.ssim == pytest.approx(1.0, abs=1e-4) for p in bright)
    assert all(p.sift_f1 == 1.0 and p.gamma == 1.0 and p.version is None for p in bright)


def test_summaries_are_means_of_pairs(result_a) -> None:
    result, _ = result_a
    rows = {r.method: r for r in result.summaries("dark")}
    oracle_pairs = [p for p in result.pairs if p.method == "oracle" and p.input == "dark"]
    assert rows["oracle"].pairs == 4 and rows["oracle"].identical == 0
    assert rows["oracle"].psnr == pytest.approx(np.mean([p.psnr for p in oracle_pairs]))
    assert rows["oracle"].sift_f1 == pytest.approx(np.mean([p.sift_f1 for p in oracle_pairs]))
    assert rows["oracle"].psnr > rows["dark"].psnr + 5
    assert rows["dark"].time_ms == pytest.approx(1000 * result.times["dark"].median_s)
    bright = {r.method: r for r in result.summaries("bright")}
    assert bright["dark"].identical == 2 and math.isnan(bright["dark"].psnr)


def test_sheet_tiles(result_a) -> None:
    result, paths = result_a
    sheet = result.sheet
    assert sheet.column_labels == ["dark (gamma 6.00)", "dark", "oracle", "ground truth"]
    assert sheet.row_labels == [paths[0].name] and len(sheet.tiles[0]) == 4
    torch.testing.assert_close(sheet.tiles[0][0], sheet.tiles[0][1])  # the identity's output
    assert all(tile.shape == (3, 256, 256) for tile in sheet.tiles[0])


def test_protocol_b_dark_row_uses_darken_b(photo_folder: Path) -> None:
    paths = sorted(photo_folder.iterdir())[:2]
    options = RunOptions(protocol="b", versions=1, time_calls=0, progress=False)
    result = run_protocol(paths, build_methods(["dark"]), options)
    assert result.times == {} and result.versions == [5]
    pair = next(p for p in result.pairs if p.image_index == 1 and p.input == "dark")
    truth = load_ground_truth(paths[1])[0].permute(1, 2, 0).numpy()  # (H, W, 3)
    dark = darken_b(truth, 1, 5) / 255.0
    assert pair.gamma == GAMMAS_B[5]
    assert pair.psnr == pytest.approx(_numpy_psnr(dark, truth.astype(np.float64)), abs=1e-5)


def test_wrong_output_shape_is_named(photo_folder: Path) -> None:
    broken = Method("broken", lambda x, context: x[..., :-1])
    with pytest.raises(ValueError, match=r"method 'broken' returned \(1, 3, 256, 255\)"):
        run_protocol(sorted(photo_folder.iterdir())[:1], [broken],
                     RunOptions(versions=1, time_calls=0, progress=False))


def test_without_reference(photo_folder: Path) -> None:
    paths = sorted(photo_folder.iterdir())
    sheet = run_without_reference(paths, build_methods(["dark", "auto-gamma"]), 100, False)
    assert sheet.column_labels == ["input", "dark", "auto-gamma"]
    assert len(sheet.tiles) == 3 and sheet.tiles[0][0].shape == (3, 75, 100)
    with pytest.raises(ValueError, match="need ground truth"):
        run_without_reference(paths, build_methods(["oracle"]), 100, False)
