"""Reading a video file frame by frame through PyAV, with its audio packets passed on untouched.

Nothing is held beyond the frame being decoded: :meth:`VideoReader.frames` is a generator, so a
clip of any length streams in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.container
import av.stream
import torch
from torch import Tensor

from lowlight.io.images import DEFAULT_MAX_PIXELS

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


class VideoReadError(ValueError):
    """A video input is missing, not a video, has no video stream, or is truncated."""


def is_video_file(path: Path) -> bool:
    """True for a regular file whose suffix is one of :data:`VIDEO_SUFFIXES` (case-insensitive)."""
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def list_videos(folder: Path) -> list[Path]:
    """Video files directly inside ``folder``, sorted by name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"video folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if is_video_file(p))


@dataclass(frozen=True)
class VideoInfo:
    """What the writer needs to reproduce a clip's video stream.

    Attributes:
        width, height: frame size in pixels.
        rate: frames per second (the stream's average rate).
        time_base: the unit of the frames' timestamps.
        frames: frame count from the container's index, 0 when it has none (e.g. Matroska).
    """

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frames: int


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame.

    Attributes:
        image: (3, H, W) float32 in [0, 1], RGB.
        pts: presentation timestamp in ``VideoInfo.time_base`` units, ``None`` when unknown.
    """

    image: Tensor
    pts: int | None


class VideoReader:
    """A video file opened for decoding (a context manager).

    Args:
        path: the file.
        max_pixels: refuse frames with more pixels than this.

    Raises:
        VideoReadError: missing, empty, not a video, no video stream, or frames too large.
    """

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoReadError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise VideoReadError(f"{self.path}: empty file (0 bytes)")
        try:
            self.container: av.container.InputContainer = av.open(str(self.path), "r")
        except (av.FFmpegError, UnicodeDecodeError) as err:
            raise VideoReadError(f"{self.path}: not a readable video ({err})") from err
        if not self.container.streams.video:
            kinds = ", ".join(s.type for s in self.container.streams) or "none"
            self.container.close()
            raise VideoReadError(f"{self.path}: no video stream (streams: {kinds})")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio)
        width, height = self.stream.codec_context.width, self.stream.codec_context.height
        rate = self.stream.average_rate or self.stream.guessed_rate
        if width < 1 or height < 1 or not rate:
            self.container.close()
            raise VideoReadError(f"{self.path}: video stream without a size or frame rate "
                                 f"({width} x {height}, rate {rate})")
        if width * height > max_pixels:
            self.container.close()
            raise VideoReadError(f"{self.path}: {width} x {height} frames exceed the limit of {max_pixels} pixels")
        self.info = VideoInfo(width, height, Fraction(rate), Fraction(self.stream.time_base or Fraction(1, 90000)),
                              int(self.stream.frames or 0))

    def frames(self, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[DecodedFrame]:
        """Decode the video frames in order; audio packets go to ``on_audio`` as they are read.

        Raises:
            VideoReadError: a decoding error (corrupt or truncated data), or fewer frames than the
                container's index announces (a truncated file).
        """
        decoded = 0
        streams = [self.stream, *self.audio] if on_audio is not None else [self.stream]
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.type == "audio":
                    if on_audio is not None and packet.dts is not None:
                        on_audio(packet)
                    continue
                for frame in packet.decode():
                    decoded += 1
                    yield DecodedFrame(frame_to_tensor(frame), frame.pts)
        except av.FFmpegError as err:
            raise VideoReadError(f"{self.path}: corrupt or truncated after {decoded} frame(s) ({err})") from err
        if decoded == 0:
            raise VideoReadError(f"{self.path}: no frame could be decoded")
        if self.info.frames and decoded < self.info.frames:
            raise VideoReadError(f"{self.path}: truncated: {decoded} of {self.info.frames} frames decoded")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def frame_to_tensor(frame: av.VideoFrame) -> Tensor:
    """A decoded frame -> (3, H, W) float32 in [0, 1] RGB."""
    array = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)
