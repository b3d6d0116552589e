"""From planned inputs to work items, and from enhanced batches to files.

:func:`work_items` reads the planned images one by one and groups images of the same size into
batches of up to ``batch_size`` (the enhancer's result does not depend on the batch), passing
videos and unreadable files through as their own items. :func:`enhance_batch` and
:func:`write_outputs` are the two halves of one batch's work: in one process ``infer.py`` calls
them in turn, under Lightning :class:`~lowlight.bulk.module.EnhanceModule` calls the first and
:class:`~lowlight.bulk.writer.AtomicPngWriter` the second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lowlight.bulk.plan import Planned
from lowlight.bulk.report import Report, one_line
from lowlight.enhance.enhancer import Enhancer
from lowlight.io.images import ImageReadError, frame_count, read_image, write_png

#: the uncertainty PNG maps this posterior standard deviation (in [0, 1] intensity units) to white
STD_WHITE = 0.1


@dataclass
class ImageBatch:
    """Same-size images to enhance together.

    Attributes:
        paths: the input files.
        targets: each input's output files (image, then the std map with uncertainty).
        images: (B, 3, H, W) float32 in [0, 1], in ``paths`` order.
    """

    paths: list[Path]
    targets: list[tuple[Path, ...]]
    images: Tensor


@dataclass
class VideoItem:
    """A video input and its ``<stem>.mp4``."""

    path: Path
    target: Path


@dataclass
class ReadFailure:
    """An input that could not be read; ``message`` is its error line (it names the file)."""

    path: Path
    message: str


WorkItem = ImageBatch | VideoItem | ReadFailure


@dataclass
class Enhanced:
    """A batch's result.

    Attributes:
        batch: the batch (its images stay on the CPU).
        images: (B, 3, H, W) float in [0, 1], on the CPU.
        std: (B, 1, H, W) the GP's posterior standard deviation, or ``None``.
    """

    batch: ImageBatch
    images: Tensor
    std: Tensor | None


@dataclass
class EnhanceFailure:
    """A batch whose enhancement raised (e.g. out of memory); each of its inputs failed."""

    paths: list[Path]
    message: str


@dataclass
class VideoResult:
    """A video enhanced (``ok``, its file written) or not (its error line already printed)."""

    path: Path
    ok: bool


def work_items(
    entries: Iterable[Planned], batch_size: int, max_pixels: int, report: Report,
    check_size: Callable[[Path, tuple[int, int]], None] | None = None,
) -> Iterator[WorkItem]:
    """Read the planned inputs and group same-size images into batches.

    A batch is yielded as soon as it holds ``batch_size`` images; the rest at the end. Videos
    and unreadable files are yielded where they come. Multi-frame images get a note (only the
    first frame is enhanced).

    Args:
        entries: the inputs, in order.
        batch_size: images per batch (>= 1).
        max_pixels: larger images are refused (checked from the header, before decoding).
        report: where notes go.
        check_size: called with each image's path and (H, W) before it joins a batch (e.g. to warn
            that k exceeds its patch pairs).
    """
    pending: dict[tuple[int, int], list[tuple[Planned, Tensor]]] = defaultdict(list)

    def batch_of(size: tuple[int, int]) -> ImageBatch:
        group = pending.pop(size)
        return ImageBatch([e.path for e, _ in group], [e.targets for e, _ in group],
                          torch.stack([x for _, x in group]))

    for entry in entries:
        if entry.kind == "video":
            yield VideoItem(entry.path, entry.targets[0])
            continue
        try:
            image = read_image(entry.path, max_pixels=max_pixels)
        except ImageReadError as err:
            yield ReadFailure(entry.path, str(err))
            continue
        frames = frame_count(entry.path)
        if frames > 1:
            report.note(f"{entry.path}: {frames} frames; only the first is enhanced")
        size = (image.shape[1], image.shape[2])
        if check_size is not None:
            check_size(entry.path, size)
        pending[size].append((entry, image))
        if len(pending[size]) >= batch_size:
            yield batch_of(size)
    for size in list(pending):
        yield batch_of(size)


def enhance_batch(enhancer: Enhancer, batch: ImageBatch, uncertainty: bool,
                  device: torch.device) -> Enhanced | EnhanceFailure:
    """Enhance one batch on ``device``; a ``RuntimeError``/``ValueError`` (e.g. out of memory on a
    huge image) fails the batch's inputs instead of the job."""
    try:
        with torch.inference_mode():
            result = enhancer(batch.images.to(device), return_std=uncertainty)
    except (RuntimeError, ValueError) as err:
        return EnhanceFailure(batch.paths, f"enhancement failed ({one_line(err)})")
    std = None if result.std is None else result.std.cpu()
    return Enhanced(batch, result.image.cpu(), std)


def write_outputs(result: Enhanced | EnhanceFailure, report: Report) -> tuple[int, int]:
    """Write each enhanced image (and std map) atomically, or report the failure.

    Each image's writes succeed or fail on their own; a failed one gets one error line.

    Returns:
        ``(written, failed)`` counts of inputs.
    """
    if isinstance(result, EnhanceFailure):
        for path in result.paths:
            report.error(f"{path}: {result.message}")
        return 0, len(result.paths)
    written = failed = 0
    for i, (path, targets) in enumerate(zip(result.batch.paths, result.batch.targets, strict=True)):
        images = [result.images[i]]
        if result.std is not None:
            images.append((result.std[i] / STD_WHITE).clamp(0, 1).expand(3, -1, -1))
        try:
            for image, target in zip(images, targets, strict=True):
                write_png(image, target)
            written += 1
        except (OSError, ValueError) as err:
            failed += 1
            report.error(f"{path}: cannot write its output ({one_line(err)})")
    return written, failed
