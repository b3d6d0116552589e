"""Writing an H.264 MP4 through PyAV (libx264), with audio packets copied from the input.

The caller owns atomicity: :class:`VideoWriter` writes to the path it is given (the temporary
name of :func:`lowlight.io.atomic.atomic_path`), with the container format named explicitly because
that name does not end in ``.mp4``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.container
import av.stream
from torch import Tensor

from lowlight.ops.checks import check_image
from lowlight.io.images import to_uint8
from lowlight.video.reader import VideoInfo

#: audio codecs the MP4 muxer accepts as they are; others are dropped (``VideoWriter.dropped_audio``)
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})


@dataclass
class EncoderOptions:
    """libx264 settings.

    Attributes:
        crf: constant rate factor, 0 (lossless) .. 51; 18 is visually near-lossless.
        preset: x264 speed preset (``ultrafast`` .. ``veryslow``).
    """

    crf: int = 18
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf!r}")


def pixel_format(width: int, height: int) -> str:
    """``yuv420p`` (what every player decodes) for even sizes; ``yuv444p`` for an odd width or
    height, which 4:2:0 chroma cannot hold (H.264 High 4:4:4: the size is kept exactly)."""
    return "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"


class VideoWriter:
    """An MP4 being written: one H.264 video stream plus copies of the input's audio streams.

    Args:
        path: the file to write (its folder must exist).
        info: the input's video properties (size, frame rate).
        audio: the input's audio streams to copy (packets come through :meth:`mux_audio`).
        options: :class:`EncoderOptions`.
    """

    def __init__(self, path: Path, info: VideoInfo, audio: list[av.stream.Stream] | None = None,
                 options: EncoderOptions | None = None) -> None:
        options = options or EncoderOptions()
        self.info = info
        self.container: av.container.OutputContainer = av.open(str(path), "w", format="mp4")
        self.video = self.container.add_stream(
            "libx264", rate=info.rate, options={"crf": str(options.crf), "preset": options.preset})
        self.video.width, self.video.height = info.width, info.height
        self.video.pix_fmt = pixel_format(info.width, info.height)
        self.audio: dict[int, av.stream.Stream] = {}
        self.dropped_audio: list[str] = []  #: codec names of the audio streams MP4 cannot hold
        for stream in audio or []:
            name = stream.codec_context.name
            if name not in MP4_AUDIO_CODECS:
                self.dropped_audio.append(name)
                continue
            self.audio[stream.index] = self.container.add_stream_from_template(stream)
        self._last_pts = -1

    def write(self, frames: Tensor, pts: list[int | None]) -> None:
        """Encode a batch of frames.

        Args:
            frames: (B, 3, H, W) float in [0, 1], RGB, the input's size.
            pts: the input frames' timestamps (``VideoInfo.time_base`` units) or ``None``; they
                become frame indices at the stream's rate (kept strictly increasing).
        """
        check_image(frames, 3, "frames")
        if frames.shape[-2:] != (self.info.height, self.info.width):
            raise ValueError(f"frames {tuple(frames.shape)} do not match the stream's "
                             f"{self.info.height} x {self.info.width}")
        if len(pts) != frames.shape[0]:
            raise ValueError(f"{frames.shape[0]} frames but {len(pts)} timestamps")
        for image, stamp in zip(frames, pts, strict=True):
            index = self._last_pts + 1 if stamp is None else round(Fraction(stamp) * self.info.time_base * self.info.rate)
            self._last_pts = max(index, self._last_pts + 1)
            frame = av.VideoFrame.from_ndarray(to_uint8(image), format="rgb24")
            frame.pts = self._last_pts
            for packet in self.video.encode(frame):
                self.container.mux(packet)

    def mux_audio(self, packet: av.Packet) -> None:
        """Copy one audio packet of the input (ignored for a stream that was dropped)."""
        out = self.audio.get(packet.stream.index)
        if out is not None:
            packet.stream = out
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            for packet in self.video.encode():
                self.container.mux(packet)
        finally:
            self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:  # the file is abandoned (the caller removes the temporary name)
            self.container.close()
