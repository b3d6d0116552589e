"""Benchmark rows: end-to-end enhancement time per 256 x 256 image, beside the paper's.

Times follow PROTOCOL.md: batch of one, model loaded, one warm-up call, median of repeated calls,
image decoding and writing excluded. (Larger sizes and peak memory: :mod:`lowlight.bench.sweep`.)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import torch

from lowlight.bench.table import markdown_table
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.ops.resize import resize_image

#: the paper's seconds per 256 x 256 image (Tables I and II, Intel i7 3.6 GHz, CNN included)
PAPER_SECONDS = {("lm", 10): 0.27, ("lm", 30): 0.32, ("lm", 200): 0.91,
                 ("cm", 10): 0.41, ("cm", 30): 0.49, ("cm", 200): 1.74}


def dark_photo(height: int, width: int) -> torch.Tensor:
    """A darkened bundled photo resized to (1, 3, height, width) float in [0, 1]."""
    import skimage.data

    photo = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float() / 255.0
    photo = resize_image(photo, (height, width))
    # in place: one image-sized buffer, so that the image adds little to a large size's peak memory
    return photo.pow_(3).mul_(255).round_().div_(255)


def enhancer_times(enhancer: Enhancer, height: int, width: int, calls: int = 20) -> list[float]:
    """Wall seconds of ``calls`` enhancements of one (1, 3, height, width) image after a warm-up call."""
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    image = dark_photo(height, width)
    times = []
    with torch.inference_mode():
        enhancer(image)
        for _ in range(calls):
            start = time.perf_counter()
            enhancer(image)
            times.append(time.perf_counter() - start)
    return times


def time_enhancer(enhancer: Enhancer, height: int, width: int, calls: int = 20) -> float:
    """Median seconds of ``calls`` enhancements of one (1, 3, height, width) image after a warm-up."""
    return statistics.median(enhancer_times(enhancer, height, width, calls))


def end_to_end_rows(modes: tuple[str, ...] = ("lm", "cm"), ks: tuple[int, ...] = (10, 30, 200),
                    calls: int = 20, base: EnhancerConfig | None = None) -> list[dict]:
    """Seconds per 256 x 256 image for each mode and k, beside the paper's times."""
    base = base or EnhancerConfig()
    rows = []
    for mode in modes:
        for k in ks:
            config = replace(base, mode=mode, gp=replace(base.gp, k=k))
            seconds = time_enhancer(Enhancer.from_checkpoint(config), 256, 256, calls)
            paper = PAPER_SECONDS.get((mode, k))
            rows.append({"mode": mode, "k": k, "ms": 1000 * seconds,
                         "paper_ms": None if paper is None else 1000 * paper,
                         "speedup_vs_paper": None if paper is None else paper / seconds})
    return rows


def format_end_to_end(rows: list[dict]) -> str:
    """The rows of :func:`end_to_end_rows` as a markdown table."""
    header = ["mode", "k", "ms / 256x256 image (median)", "paper ms (i7 3.6 GHz)", "faster than paper"]
    lines = [[r["mode"].upper(), str(r["k"]), f"{r['ms']:.1f}",
              "-" if r["paper_ms"] is None else f"{r['paper_ms']:.0f}",
              "-" if r["speedup_vs_paper"] is None else f"{r['speedup_vs_paper']:.1f}x"]
             for r in rows]
    return markdown_table(header, lines, text_columns=1)
