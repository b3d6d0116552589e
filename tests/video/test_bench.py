"""The video benchmark's smoke run, its real clip, and the working-size helper."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lowlight.video.bench import main, real_clip
from lowlight.video.resize import enhance_at_work_size, work_size


def test_bench_prints_the_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strip = tmp_path / "strip.jpg"
    main(["--frames", "4", "--height", "36", "--work-height", "18", "--batch", "2", "--threads", "1",
          "--clips", "pan,cut", "--strip", str(strip), "--work-size", "24", "--other-work-size", "32"])
    out = capsys.readouterr().out
    assert "| pan (4 frames) | temporal 0.8 |" in out and "| cut (4 frames) | per-frame (--temporal 0) |" in out
    assert "| 0, 2 |" in out  # the cut clip's scene cut is found at its middle frame
    assert "| pan (4 frames) | temporal 0.8, --work-size 32 |" in out and "work_size=24" in out
    assert "| temporal, --work-height 18 | 64 x 36 | 4 |" in out
    assert strip.stat().st_size > 0


def test_real_clip_comes_from_an_installed_package() -> None:
    frames = real_clip(2)
    assert frames.shape == (2, 3, 272, 640) and frames.dtype == torch.float32


def test_work_size_keeps_the_aspect_and_the_output_size() -> None:
    assert work_size(360, 640, 180) == (180, 320)
    assert work_size(360, 640, 0) == (360, 640) == work_size(360, 640, 720)
    with pytest.raises(ValueError, match="work_height must be >= 0, got -1"):
        work_size(360, 640, -1)
    frames = torch.rand(2, 3, 30, 40)
    seen = []
    out = enhance_at_work_size(lambda x: seen.append(x.shape) or x, frames, 15)
    assert seen == [(2, 3, 15, 20)] and out.shape == frames.shape
