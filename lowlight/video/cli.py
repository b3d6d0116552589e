"""The video part of ``infer.py``: its options, and one video input enhanced with one-line errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import torch
from tqdm import tqdm

from lowlight.enhance.enhancer import Enhancer
from lowlight.video.enhance_file import DEFAULT_VIDEO_WORK_SIZE, VideoJobOptions, enhance_video_file
from lowlight.video.reader import VIDEO_SUFFIXES, VideoReadError
from lowlight.video.temporal import DEFAULT_STRENGTH, TemporalOptions


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """``--temporal``, ``--frame-batch`` and ``--work-height``."""
    group = parser.add_argument_group(f"video ({', '.join(VIDEO_SUFFIXES)} -> <stem>.mp4, H.264, audio copied)")
    group.add_argument("--temporal", type=float, default=DEFAULT_STRENGTH, metavar="S",
                       help=f"weight in [0, 1) of the previous frames in the CNN curves, GP centres and "
                            f"hyperparameters (default {DEFAULT_STRENGTH}); 0 = per-frame enhancement")
    group.add_argument("--frame-batch", type=int, default=8, metavar="N", help="video frames enhanced together (8)")
    group.add_argument("--work-height", type=int, default=0, metavar="H",
                       help="enhance video frames downscaled to H rows and upsample the result: faster, softer "
                            "(default 0: full resolution)")


def video_options(temporal: float, frame_batch: int, work_height: int, max_pixels: int,
                  device: torch.device, work_size: int | None = None) -> VideoJobOptions:
    """The options of every video of a run, from the command line's values.

    ``work_size`` is ``--work-size`` when given (photos and videos alike), else ``None``: video
    frames then use :data:`DEFAULT_VIDEO_WORK_SIZE`.

    Raises:
        ValueError: ``temporal`` outside [0, 1), ``frame_batch`` < 1 or ``work_height`` < 0
            (named in the message).
    """
    if not 0 <= temporal < 1:
        raise ValueError(f"--temporal must be in [0, 1), got {temporal}")
    if frame_batch < 1:
        raise ValueError(f"--frame-batch must be >= 1, got {frame_batch}")
    if work_height < 0:
        raise ValueError(f"--work-height must be >= 0, got {work_height}")
    return VideoJobOptions(batch_size=frame_batch, temporal=TemporalOptions(strength=temporal),
                           max_pixels=max_pixels, device=device, work_height=work_height,
                           work_size=DEFAULT_VIDEO_WORK_SIZE if work_size is None else work_size)


def enhance_video_input(enhancer: Enhancer, source: Path, target: Path, options: VideoJobOptions) -> bool:
    """Enhance one video; on failure print one ``infer.py: error:`` line and return ``False``."""
    try:
        report = enhance_video_file(enhancer, source, target, options)
    except VideoReadError as err:
        tqdm.write(f"infer.py: error: {err}", file=sys.stderr)
        return False
    except (RuntimeError, ValueError, OSError, av.FFmpegError) as err:
        tqdm.write(f"infer.py: error: {source}: enhancement failed ({err})", file=sys.stderr)
        return False
    for codec in report.dropped_audio:
        tqdm.write(f"infer.py: warning: {source}: audio codec {codec!r} cannot be copied into MP4; dropped",
                   file=sys.stderr)
    return True
