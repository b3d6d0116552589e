"""Reading and writing clips: streaming, sizes, frame rate, audio copy, atomic output, bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch

from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.video.enhance_file import DEFAULT_VIDEO_WORK_SIZE, VideoJobOptions, enhance_video_file
from lowlight.video.reader import VideoReader, VideoReadError, is_video_file, list_videos
from lowlight.video.writer import pixel_format
from tests.video.clips import dark_frames, write_audio_only, write_clip


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    return Enhancer.from_checkpoint(EnhancerConfig(gp=GPOptions(k=8)))


def _streams(path: Path) -> dict[str, list]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {"video": [video.codec_context.name, video.width, video.height, video.average_rate,
                          video.format.name],
                "audio": [s.codec_context.name for s in container.streams.audio]}
        info["frames"] = [sum(1 for _ in container.decode(video=0))]
    return info


@pytest.mark.parametrize(("size", "audio"), [((48, 64), True), ((25, 33), False)])
def test_output_keeps_size_rate_and_audio(tmp_path: Path, enhancer: Enhancer, size: tuple[int, int],
                                          audio: bool) -> None:
    source = write_clip(tmp_path / "clip.mp4", dark_frames(5, *size), rate=30, audio=audio)
    target = tmp_path / "out" / "clip.mp4"
    target.parent.mkdir()
    report = enhance_video_file(enhancer, source, target, VideoJobOptions(batch_size=2), progress=False)
    assert report.frames == 5
    streams = _streams(target)
    assert streams["video"] == ["h264", size[1], size[0], Fraction(30), pixel_format(size[1], size[0])]
    assert streams["frames"] == [5]
    assert streams["audio"] == (["aac"] if audio else [])
    assert [p.name for p in target.parent.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_output_is_brighter_than_input(tmp_path: Path, enhancer: Enhancer) -> None:
    frames = dark_frames(3)
    source = write_clip(tmp_path / "clip.mp4", frames)
    target = tmp_path / "out.mp4"
    enhance_video_file(enhancer, source, target, progress=False)
    with VideoReader(target) as reader:
        out = torch.stack([f.image for f in reader.frames()])
    assert out.mean() > frames.mean() + 0.1


def test_the_jobs_work_size_is_the_enhancers_for_the_frames(tmp_path: Path, enhancer: Enhancer) -> None:
    """48 x 64 frames: within the enhancer's 512 and a job's 0 (full size) alike, cut by a job's 16."""
    source = write_clip(tmp_path / "clip.mp4", dark_frames(3))
    written = {}
    for work_size in (None, 0, 16):
        target = tmp_path / f"out_{work_size}.mp4"
        enhance_video_file(enhancer, source, target, VideoJobOptions(work_size=work_size), progress=False)
        written[work_size] = target.read_bytes()
    assert written[None] == written[0] != written[16]
    assert VideoJobOptions().work_size == DEFAULT_VIDEO_WORK_SIZE
    with pytest.raises(ValueError, match="work_size must be >= 0 .* got -1"):
        VideoJobOptions(work_size=-1)


def test_frames_stream_one_at_a_time(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "clip.mp4", dark_frames(4))
    with VideoReader(source) as reader:
        frames = reader.frames()
        first = next(frames)
        assert first.image.shape == (3, 48, 64) and first.image.dtype == torch.float32
        assert 0 <= float(first.image.min()) and float(first.image.max()) <= 1
        assert len(list(frames)) == 3
        assert reader.info.frames == 4 and reader.info.rate == 25


def test_bad_inputs_raise_one_named_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    with pytest.raises(VideoReadError, match="fake.mp4: not a readable video"):
        VideoReader(fake)
    with pytest.raises(VideoReadError, match="no video stream"):
        VideoReader(write_audio_only(tmp_path / "sound.mp4"))
    data = write_clip(tmp_path / "clip.mp4", dark_frames(8), faststart=True).read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 3 // 4])
    with VideoReader(truncated) as reader, pytest.raises(VideoReadError, match="truncated"):
        list(reader.frames())
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoReadError, match="empty file"):
        VideoReader(empty)


def test_failure_leaves_no_file(tmp_path: Path, enhancer: Enhancer) -> None:
    data = write_clip(tmp_path / "clip.mp4", dark_frames(8), faststart=True).read_bytes()
    truncated = tmp_path / "in" / "truncated.mp4"
    truncated.parent.mkdir()
    truncated.write_bytes(data[: len(data) * 3 // 4])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(VideoReadError):
        enhance_video_file(enhancer, truncated, out / "truncated.mp4", VideoJobOptions(batch_size=1), progress=False)
    assert list(out.iterdir()) == []


def test_video_suffixes(tmp_path: Path) -> None:
    for name in ("a.MP4", "b.mov", "c.png", "d.mkv"):
        (tmp_path / name).touch()
    assert [p.name for p in list_videos(tmp_path)] == ["a.MP4", "b.mov", "d.mkv"]
    assert not is_video_file(tmp_path / "missing.mp4")
