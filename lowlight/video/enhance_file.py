"""Enhance one video file into an H.264 MP4: streamed, batched, atomic.

Frames are decoded, enhanced ``batch_size`` at a time by :class:`lowlight.video.temporal.VideoEnhancer`
and encoded at once, and audio packets are copied as they are read, so memory stays bounded
whatever the clip's length. The output is written under a temporary name and renamed when
complete (:func:`lowlight.io.atomic.atomic_path`): a failure leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from lowlight.io.atomic import atomic_path
from lowlight.enhance.enhancer import Enhancer
from lowlight.io.images import DEFAULT_MAX_PIXELS
from lowlight.video.reader import VideoReader
from lowlight.video.resize import enhance_at_work_size
from lowlight.video.temporal import TemporalOptions, VideoEnhancer
from lowlight.video.writer import EncoderOptions, VideoWriter

#: the working size of video frames (README, video section): a 640 x 360 frame is analysed, and the
#: GP predicts, on a 320 x 180 copy, the output upsampled guided by the frame; photos keep 512
DEFAULT_VIDEO_WORK_SIZE = 320


@dataclass
class VideoJobOptions:
    """How a video file is enhanced.

    Attributes:
        batch_size: frames enhanced together (>= 1).
        temporal: :class:`TemporalOptions` (``strength = 0``: per-frame enhancement).
        encoder: :class:`EncoderOptions`.
        max_pixels: refuse frames larger than this.
        device: where the frames are enhanced (the enhancer's device).
        work_height: enhance frames downscaled to this many rows and upsample the result
            (:mod:`lowlight.video.resize`; faster, softer); 0 = full resolution.
        work_size: the enhancer's working size for the frames (:attr:`EnhancerConfig.work_size
            <lowlight.enhance.enhancer.EnhancerConfig>`: larger frames are analysed on a copy
            with this longer side); ``None`` keeps the enhancer's own.
    """

    batch_size: int = 8
    temporal: TemporalOptions = field(default_factory=TemporalOptions)
    encoder: EncoderOptions = field(default_factory=EncoderOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: torch.device | str = "cpu"
    work_height: int = 0
    work_size: int | None = DEFAULT_VIDEO_WORK_SIZE

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if self.work_height < 0:
            raise ValueError(f"work_height must be >= 0, got {self.work_height!r}")
        if self.work_size is not None and self.work_size < 0:
            raise ValueError(f"work_size must be >= 0 (0 = full resolution) or None, got {self.work_size!r}")


@dataclass(frozen=True)
class VideoReport:
    """What :func:`enhance_video_file` did.

    Attributes:
        frames: frames written.
        seconds: wall time, decoding and encoding included.
        cuts: frame indices where the temporal state was reset (scene cuts, frame 0 included).
        dropped_audio: codecs of input audio streams MP4 could not hold (not copied).
    """

    frames: int
    seconds: float
    cuts: list[int]
    dropped_audio: list[str]


def enhance_video_file(enhancer: Enhancer, source: Path, target: Path, options: VideoJobOptions | None = None,
                       progress: bool = True) -> VideoReport:
    """Enhance ``source`` into the MP4 ``target`` (same size and frame rate, audio copied).

    Args:
        enhancer: the image enhancer, on ``options.device`` (run with ``options.work_size``).
        source: a video file PyAV can read.
        target: the output path; its folder must exist. Written atomically.
        options: :class:`VideoJobOptions`.
        progress: show a progress bar in frames (on stderr).

    Raises:
        lowlight.video.reader.VideoReadError: not a video, no video stream, truncated or corrupt.
    """
    options = options or VideoJobOptions()
    start = time.perf_counter()
    if options.work_size is not None:
        enhancer = enhancer.with_work_size(options.work_size)
    video = VideoEnhancer(enhancer, options.temporal)
    written = 0
    with VideoReader(source, options.max_pixels) as reader, atomic_path(target) as tmp:
        bar = tqdm(total=reader.info.frames or None, unit="frame", desc=source.name, leave=False,
                   disable=not progress)
        with VideoWriter(tmp, reader.info, reader.audio, options.encoder) as writer:
            batch: list[torch.Tensor] = []
            stamps: list[int | None] = []

            def flush() -> None:
                nonlocal written
                if batch:
                    out = enhance_at_work_size(video, torch.stack(batch).to(options.device), options.work_height)
                    writer.write(out.cpu(), stamps)
                    written += len(batch)
                    bar.update(len(batch))
                    batch.clear()
                    stamps.clear()

            for frame in reader.frames(on_audio=writer.mux_audio):
                batch.append(frame.image)
                stamps.append(frame.pts)
                if len(batch) >= options.batch_size:
                    flush()
            flush()
        bar.close()
    return VideoReport(written, time.perf_counter() - start, video.cuts, writer.dropped_audio)
