"""infer.py on videos: mixed folders and globs, one error line per bad clip, usage errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.cli.infer import InferOptions, main, photo_work_size
from lowlight.enhance.enhancer import EnhancerConfig
from lowlight.io.images import read_image
from lowlight.video.cli import video_options
from lowlight.video.enhance_file import DEFAULT_VIDEO_WORK_SIZE
from lowlight.video.reader import VideoReader
from tests.video.clips import dark_frames, write_audio_only, write_clip


def test_folder_and_glob_mix_photos_and_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frames = dark_frames(4)
    write_clip(folder / "clip.mp4", frames, audio=True)
    Image.fromarray((frames[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / "photo.png")
    (tmp_path / "glob").mkdir()
    write_clip(tmp_path / "glob" / "other.mov", frames[:2], rate=12)
    out = tmp_path / "out"
    code = main([str(folder), str(tmp_path / "glob" / "*.mov"), "-o", str(out), "--k", "6", "--frame-batch", "3"])
    assert code == 0, capsys.readouterr().err
    assert read_image(out / "photo.png").shape == (3, 48, 64)
    with VideoReader(out / "clip.mp4") as reader:
        assert (reader.info.width, reader.info.height, reader.info.frames, reader.info.rate) == (64, 48, 4, 25)
        assert [s.codec_context.name for s in reader.audio] == ["aac"]
    with VideoReader(out / "other.mp4") as reader:
        assert (reader.info.frames, reader.info.rate) == (2, 12)
    assert "enhanced 3 image(s)" in capsys.readouterr().out


def test_bad_clips_fail_alone_with_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fake.mp4").write_text("not a video at all")
    write_audio_only(folder / "sound.mp4")
    data = write_clip(tmp_path / "whole.mp4", dark_frames(8), faststart=True).read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) * 3 // 4])
    write_clip(folder / "good.mp4", dark_frames(2))
    out = tmp_path / "out"
    code = main([str(folder), "-o", str(out), "--k", "4", "--temporal", "0"])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if "infer.py: error:" in line]
    assert len(lines) == 3, err
    assert any("fake.mp4: not a readable video" in line for line in lines)
    assert any("sound.mp4: no video stream" in line for line in lines)
    assert any("truncated.mp4: corrupt or truncated" in line for line in lines)
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4"]  # nothing half-written


@pytest.mark.parametrize(("args", "message"), [
    (["--temporal", "1"], "--temporal must be in [0, 1), got 1.0"),
    (["--frame-batch", "0"], "--frame-batch must be >= 1, got 0"),
])
def test_video_usage_errors(tmp_path: Path, args: list[str], message: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / "clip.mp4", dark_frames(2))
    assert main([str(clip), "-o", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err


def test_work_size_defaults_per_medium() -> None:
    """``--work-size`` unset: videos get their own default; given: photos and videos share it."""
    cpu = torch.device("cpu")
    assert video_options(0.8, 8, 0, 10**6, cpu).work_size == DEFAULT_VIDEO_WORK_SIZE
    assert video_options(0.8, 8, 0, 10**6, cpu, work_size=0).work_size == 0
    assert photo_work_size(InferOptions(inputs=[], output=Path("out"))) == EnhancerConfig.work_size
    assert photo_work_size(InferOptions(inputs=[], output=Path("out"), work_size=96)) == 96
