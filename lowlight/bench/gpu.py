"""GPU throughput: frames per second of batched enhancement on a CUDA device.

Issue 10's GPU goal is 3840 x 2160 at 30 frames per second or more, batched. Each (GP
resolution, size, batch) enhances a batch of copies of one darkened photo
(:func:`lowlight.bench.pipeline.dark_photo`) already on the device: one warm-up call, then the
median of ``calls`` timed calls, each ended by ``torch.cuda.synchronize``; the peak is
``torch.cuda.max_memory_allocated`` over those calls. A batch that runs out of memory is reported
as such. Without CUDA the section says so and measures nothing.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from lowlight.bench.pipeline import dark_photo
from lowlight.bench.table import markdown_table
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig


@dataclass(frozen=True)
class GPUBenchOptions:
    """What :func:`gpu_throughput` measures.

    Attributes:
        sizes: (height, width) of the frames.
        batches: frames per call.
        gp_resolutions: ``EnhancerConfig.gp_resolution`` values to measure.
        calls: timed calls per cell after one warm-up call, >= 1.
        k: GP centres.
        device: a CUDA device.
    """

    sizes: tuple[tuple[int, int], ...] = ((1080, 1920), (2160, 3840))
    batches: tuple[int, ...] = (1, 4, 8)
    gp_resolutions: tuple[str, ...] = ("working", "full")
    calls: int = 5
    k: int = 30
    device: str = "cuda"


def gpu_throughput(options: GPUBenchOptions = GPUBenchOptions()) -> list[dict]:
    """One row per (GP resolution, size, batch): seconds per batch, frames per second, peak GiB."""
    if options.calls < 1:
        raise ValueError(f"calls must be >= 1, got {options.calls!r}")
    device = torch.device(options.device)
    rows = []
    for where in options.gp_resolutions:
        config = EnhancerConfig(gp=GPOptions(k=options.k), gp_resolution=where)  # type: ignore[arg-type]
        enhancer = Enhancer.from_checkpoint(config, device=device)
        for height, width in options.sizes:
            photo = dark_photo(height, width).to(device)
            for batch in options.batches:
                row = {"gp_resolution": where, "size": f"{width} x {height}", "batch": batch}
                try:
                    seconds, peak = _time_batch(enhancer, photo.expand(batch, -1, -1, -1).contiguous(),
                                                options.calls, device)
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    rows.append(row | {"skipped": "out of GPU memory"})
                    continue
                rows.append(row | {"seconds": seconds, "fps": batch / seconds, "peak_gib": peak})
    return rows


def _time_batch(enhancer: Enhancer, frames: torch.Tensor, calls: int, device: torch.device) -> tuple[float, float]:
    """Median seconds of ``calls`` synchronised calls after a warm-up, and the peak GiB allocated."""
    times = []
    with torch.inference_mode():
        enhancer(frames)
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(calls):
            start = time.perf_counter()
            enhancer(frames)
            torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times), torch.cuda.max_memory_allocated(device) / 2**30


def format_markdown(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    header = ["gp_resolution", "size", "batch", "s per batch", "frames / s", "peak GiB"]
    lines = []
    for r in rows:
        if "skipped" in r:
            lines.append([r["gp_resolution"], r["size"], str(r["batch"]), r["skipped"], "-", "-"])
        else:
            lines.append([r["gp_resolution"], r["size"], str(r["batch"]), f"{r['seconds']:.3f}", f"{r['fps']:.1f}",
                          f"{r['peak_gib']:.2f}"])
    return markdown_table(header, lines, text_columns=2)
