"""Tiny test clips written with PyAV: a darkened pan over a bundled photo, optional audio."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from lowlight.io.images import to_uint8
from lowlight.video.synthetic import ClipOptions, DarkeningOptions, bright_clip, darken_frames, skimage_photo


def dark_frames(frames: int = 6, height: int = 48, width: int = 64, cut_at: int | None = None,
                seed: int = 0) -> torch.Tensor:
    """(T, 3, H, W) float in [0, 1]: a pan over astronaut (then coffee after ``cut_at``), darkened."""
    photos = [skimage_photo("astronaut"), skimage_photo("coffee")]
    bright = torch.stack(list(bright_clip(photos, ClipOptions(frames, height, width, cut_at=cut_at))))
    return darken_frames(bright, DarkeningOptions(gamma=2.5, seed=seed), torch.Generator().manual_seed(seed))


def write_clip(path: Path, frames: torch.Tensor, rate: int = 25, audio: bool = False,
               faststart: bool = False) -> Path:
    """Encode (T, 3, H, W) frames as H.264 (yuv444p for odd sizes), with a sine in AAC if ``audio``."""
    height, width = frames.shape[-2:]
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=16000)
            sound.layout = "mono"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(to_uint8(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            n = 16000 * frames.shape[0] // rate
            samples = (0.3 * np.sin(np.arange(n) * 2 * np.pi * 440 / 16000)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            chunk.sample_rate = 16000
            for packet in [*sound.encode(chunk), *sound.encode()]:
                container.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 0.2) -> Path:
    """An MP4 holding one AAC audio stream and no video."""
    with av.open(str(path), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
        samples = np.zeros((1, int(16000 * seconds)), np.float32)
        chunk = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        chunk.sample_rate = 16000
        for packet in [*sound.encode(chunk), *sound.encode()]:
            container.mux(packet)
    return path
