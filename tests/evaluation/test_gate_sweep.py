from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.archs import CurveNet
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.data.sources import split_holdout
from lowlight.evaluation.pairs import pair_paths
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.evaluation.gate_sweep import (
    GateCandidate,
    format_tables,
    gate_sweep,
    gated_output,
    held_out_photos,
    main,
    pair_sweep,
    parse_gates,
    ungated_enhancer,
)
from tests.conftest import write_textured_images


@pytest.mark.parametrize("candidate", [GateCandidate(None, None), GateCandidate((0.0015, 0.003), (0.3, 0.4)),
                                       GateCandidate((0.02, 0.06), None), GateCandidate(None, (0.05, 0.3))])
def test_gated_output_is_what_the_gated_enhancer_returns(candidate: GateCandidate) -> None:
    torch.manual_seed(0)
    net = CurveNet(width=8, refine_width=4)
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(1, 3, 40, 48, generator=g) ** 3
    noisy = (clean + 0.03 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    grey = clean[:, :1].expand(-1, 3, -1, -1).contiguous()
    bright = (clean ** (1 / 6)).clamp(0, 1)
    lq = torch.cat([clean, noisy, grey, bright])  # gate weights 0, 1 and between; a neutral input
    ungated = Enhancer(net, EnhancerConfig(gp=GPOptions(k=6), noise_gate=None, exposure_gate=None))
    gated = Enhancer(net, EnhancerConfig(gp=GPOptions(k=6), noise_gate=candidate.noise, exposure_gate=candidate.exposure))
    with torch.inference_mode():
        reference = ungated.reference(lq).clamp(0, 1)
        composed = gated_output(lq, reference, ungated(lq).image, candidate)
        expected = gated(lq).image
    torch.testing.assert_close(composed, expected, atol=1e-6, rtol=0)


def test_gate_sweep_scores_every_candidate_and_counts_unchanged_bright_inputs(photo_folder: Path) -> None:
    paths = sorted(photo_folder.iterdir())[:2]
    keep_all = GateCandidate(None, (0.0, 0.001))  # every photo here has median luma above 0.001
    candidates = [GateCandidate(None, None), GateCandidate((0.0015, 0.003), (0.3, 0.4)), keep_all]
    scores = gate_sweep(paths, candidates, ungated_enhancer(k=8), versions=1, progress=False)
    assert set(scores) == {"A dark", "B dark", "bright"}
    for kind in ("A dark", "B dark"):
        for record in scores[kind].values():
            assert len(record.psnr) == len(record.ssim) == len(record.f1) == 2 and record.unchanged == 0
    assert scores["bright"][keep_all].unchanged == 2 and scores["bright"][keep_all].psnr == []
    assert len(scores["bright"][candidates[0]].psnr) == 2
    # that gate returns the dark inputs unchanged too: they score as the dark input, below the enhanced
    assert all(kept < enhanced for kept, enhanced in zip(scores["A dark"][keep_all].psnr,
                                                         scores["A dark"][candidates[0]].psnr))
    table = format_tables(scores)
    assert "| noise off, exposure off |" in table and "| noise 0.0015-0.003, exposure 0.3-0.4 |" in table
    # the kept bright photos count as SSIM 1 in "SSIM, all"
    keep_row = [line for line in table.split("**bright**")[1].splitlines() if line.startswith("| noise off, exposure 0-0.001 |")]
    assert keep_row and keep_row[0].endswith("| nan | nan | nan | 1.0000 | 2 | 2 |")
    with pytest.raises(ValueError, match="both gates off"):
        gate_sweep(paths, candidates, Enhancer.from_checkpoint(EnhancerConfig(gp=GPOptions(k=8))), versions=1)


def test_parse_gates_and_the_command_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_gates("none, 0.0015:0.003,OFF") == [None, (0.0015, 0.003), None]
    with pytest.raises(ValueError, match="gate '0.003:0.001': expected 0 <= LOW < HIGH"):
        parse_gates("0.003:0.001")
    with pytest.raises(ValueError, match="gate 'x': expected none or LOW:HIGH"):
        parse_gates("x")
    assert main(["--images", str(tmp_path / "missing"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gate_sweep: error:") and "missing" in err[0]
    assert main(["--images", str(tmp_path), "--noise-gates", "1:0"]) == 2
    assert "gate '1:0'" in capsys.readouterr().err


def test_held_out_photos_are_the_training_configs_holdout(tmp_path: Path) -> None:
    write_textured_images(tmp_path, 12, size=(16, 16), seed=3)
    paths = sorted(tmp_path.iterdir())
    _, held = split_holdout(paths, 40)
    assert held and held_out_photos([], [tmp_path], 40) == sorted(held, key=lambda p: p.name)
    assert held_out_photos([], [tmp_path], 40, max_images=1) == sorted(held, key=lambda p: p.name)[:1]
    with pytest.raises(ValueError, match="--holdout-percent must be in \\[1, 100\\), got 0"):
        held_out_photos([], [tmp_path], 0)
    assert main(["--train-coco", str(tmp_path / "none.json"), "--no-progress"]) == 2


def test_pair_sweep_scores_real_pairs_and_refuses_frames_above_the_working_size(tmp_path: Path) -> None:
    write_textured_images(tmp_path / "high", 2, size=(40, 48), seed=5)
    (tmp_path / "low").mkdir()
    for path in sorted((tmp_path / "high").iterdir()):
        bright = np.asarray(Image.open(path), dtype=np.float64) / 255
        Image.fromarray(np.round(255 * bright ** 3).astype(np.uint8)).save(tmp_path / "low" / path.name)
    pairs = pair_paths(tmp_path)
    candidates = [GateCandidate(None, (0.3, 0.4)), GateCandidate((0.0015, 0.003), (0.3, 0.4))]
    enhancer = ungated_enhancer(k=6)
    scores = pair_sweep(pairs, candidates, enhancer, progress=False)
    for record in scores.values():
        assert len(record.psnr) == 2 and all(psnr > 0 for psnr in record.psnr) and record.unchanged == 0
    # a clean dark frame skips the GP under the gate: its score is the reference's, not the GP's
    assert scores[candidates[0]].psnr != scores[candidates[1]].psnr
    with pytest.raises(ValueError, match="larger than the working size 32"):
        pair_sweep(pairs, candidates, enhancer.with_work_size(32), progress=False)
    with pytest.raises(ValueError, match="both gates off"):
        pair_sweep(pairs, candidates, Enhancer.from_checkpoint(EnhancerConfig(gp=GPOptions(k=6))), progress=False)
