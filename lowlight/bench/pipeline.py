"""Benchmark rows: end-to-end enhancement time per image, and peak memory on large images.

Times follow PROTOCOL.md: batch of one, model loaded, one warm-up call, median of repeated calls,
image decoding and writing excluded. Peak memory of a large image is measured in a fresh
subprocess (its maximum resident set size), so earlier allocations do not count.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace

import torch

from lowlight.enhance.enhancer import Enhancer, EnhancerConfig

#: the paper's seconds per 256 x 256 image (Tables I and II, Intel i7 3.6 GHz, CNN included)
PAPER_SECONDS = {("lm", 10): 0.27, ("lm", 30): 0.32, ("lm", 200): 0.91,
                 ("cm", 10): 0.41, ("cm", 30): 0.49, ("cm", 200): 1.74}


def _test_image(height: int, width: int) -> torch.Tensor:
    """A darkened bundled photo resized to (1, 3, height, width) float in [0, 1]."""
    import skimage.data

    photo = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float() / 255.0
    photo = torch.nn.functional.interpolate(photo, size=(height, width), mode="bilinear",
                                            antialias=height < 512, align_corners=False)
    return (photo.clamp(0, 1) ** 3 * 255).round() / 255


def time_enhancer(enhancer: Enhancer, height: int, width: int, calls: int = 20) -> float:
    """Median seconds of ``calls`` enhancements of one (1, 3, height, width) image after a warm-up."""
    image = _test_image(height, width)
    times = []
    with torch.inference_mode():
        enhancer(image)
        for _ in range(calls):
            start = time.perf_counter()
            enhancer(image)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def large_image_row(height: int, width: int, mode: str = "cm", k: int = 30, calls: int = 2) -> dict:
    """Time and peak resident memory of one large enhancement, measured in a subprocess."""
    code = (
        "import json, resource, torch; from lowlight.bench.pipeline import time_enhancer;"
        "from lowlight.enhance.enhancer import Enhancer, EnhancerConfig; from lowlight.enhance.clustered_gp import GPOptions;"
        f"e = Enhancer.from_checkpoint(EnhancerConfig(mode={mode!r}, gp=GPOptions(k={k})));"
        f"s = time_enhancer(e, {height}, {width}, {calls});"
        "print(json.dumps({'seconds': s, 'peak_gib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return {"mode": mode, "k": k, "size": f"{width} x {height}", "megapixels": height * width / 1e6,
            "seconds": measured["seconds"], "peak_gib": measured["peak_gib"]}


def format_end_to_end(rows: list[dict]) -> str:
    lines = ["| mode | k | ms / 256x256 image | paper ms (i7 3.6 GHz) | faster than paper |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        paper = "-" if r["paper_ms"] is None else f"{r['paper_ms']:.0f}"
        ratio = "-" if r["speedup_vs_paper"] is None else f"{r['speedup_vs_paper']:.1f}x"
        lines.append(f"| {r['mode'].upper()} | {r['k']} | {r['ms']:.1f} | {paper} | {ratio} |")
    return "\n".join(lines)


def format_large(rows: list[dict]) -> str:
    lines = ["| mode | k | size | s / image | s per megapixel | peak memory (GiB, process RSS) |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['mode'].upper()} | {r['k']} | {r['size']} | {r['seconds']:.2f} | "
                     f"{r['seconds'] / r['megapixels']:.2f} | {r['peak_gib']:.2f} |")
    return "\n".join(lines)
