"""Benchmark rows: enhancement time and peak memory from 256 x 256 to 24 MP, for each path.

Paths (:func:`sweep_paths`): the full-resolution path (``EnhancerConfig(work_size=0)``, the
enhancer before the working copy existed) and the working-resolution path, which analyses a copy
whose long side is ``EnhancerConfig().work_size``, once for each ``gp_resolution``: the GP
predicting every full-size pixel (``"full"``) or the working copy, upsampled (``"working"``).
Each working path has a column of the full-resolution path's time over its own.

Every (size, path) runs in a fresh interpreter (``python -m lowlight.bench._one_size``): model
loaded, one warm-up call, then ``calls`` timed calls of one darkened photo of that size (batch of
one; decoding and writing excluded); the row gives their median, the median per megapixel, and
the peak resident memory of that whole process (torch and the model included). The
full-resolution path is skipped above ``max_full_pixels`` (it is the slow one). A slope in ms per
megapixel is fitted (least squares on the medians) for each path over the sizes above its
working size (all sizes for the full-resolution path).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from lowlight.bench.table import markdown_table
from lowlight.bench.timing import fit_line
from lowlight.enhance.enhancer import GP_RESOLUTIONS, EnhancerConfig

#: the sweep's sizes, (height, width): 256 x 256 up to 6000 x 4000 (24 MP), landscape
SIZES = ((256, 256), (720, 1280), (1080, 1920), (2160, 3840), (4000, 6000))

#: the field of the working-resolution option (the long side of the working copy; 0: none)
WORK_SIZE = "work_size"


@dataclass(frozen=True)
class SweepPath:
    """One enhancer configuration of the sweep.

    Attributes:
        name: the column heading.
        overrides: :class:`EnhancerConfig` fields set on top of the defaults.
        full_resolution: the full-resolution path (skipped above ``max_full_pixels``).
        short: the path's name in its ratio column's heading (default: ``name``).
    """

    name: str
    overrides: dict[str, object] = field(default_factory=dict)
    full_resolution: bool = False
    short: str = ""

    def work_size(self) -> int:
        """The long side of this path's working copy; 0: it works at full resolution."""
        if self.full_resolution:
            return 0
        return int(self.overrides.get(WORK_SIZE, EnhancerConfig().work_size))


def sweep_paths() -> tuple[list[SweepPath], list[str]]:
    """The paths the sweep runs with this enhancer's defaults, and a note for each one it cannot."""
    full = SweepPath("full resolution (work_size=0)", {WORK_SIZE: 0}, full_resolution=True, short="full")
    defaults = EnhancerConfig()
    if defaults.work_size == 0:
        return [full], ["working-resolution paths: not measured, the default EnhancerConfig has work_size = 0"]
    paths = [full]
    for where in GP_RESOLUTIONS:
        default = " (default)" if where == defaults.gp_resolution else ""
        what = "GP per full-size pixel" if where == "full" else "GP on the copy, upsampled"
        paths.append(SweepPath(f"work_size={defaults.work_size}, {what}{default}", {"gp_resolution": where},
                               short=f"gp_resolution={where}"))
    return paths, []


@dataclass(frozen=True)
class SweepOptions:
    """What :func:`size_sweep` measures.

    Attributes:
        sizes: (height, width) of each image size.
        mode: ``"cm"`` or ``"lm"``.
        k: GP centres.
        calls: timed calls per (size, path), after one warm-up call; >= 1.
        threads: torch threads of each measuring process.
        max_full_pixels: the full-resolution path is skipped on larger images (0: never).
        timeout_s: seconds one (size, path) process may run.
    """

    sizes: tuple[tuple[int, int], ...] = SIZES
    mode: str = "cm"
    k: int = 30
    calls: int = 5
    threads: int = 2
    max_full_pixels: int = 9_000_000
    timeout_s: float = 1800.0


@dataclass(frozen=True)
class Measurement:
    """One (size, path): median seconds and peak memory, or why it was not measured."""

    seconds: float = math.nan
    peak_gb: float = math.nan
    calls: int = 0
    skipped: str = ""


def measure(height: int, width: int, path: SweepPath, options: SweepOptions) -> Measurement:
    """Run one (size, path) in a fresh interpreter (module doc); failures become ``skipped``."""
    if path.full_resolution and options.max_full_pixels and height * width > options.max_full_pixels:
        return Measurement(skipped="skipped (over --max-full-pixels)")
    command = [sys.executable, "-m", "lowlight.bench._one_size", "--height", str(height),
               "--width", str(width), "--mode", options.mode, "--k", str(options.k),
               "--overrides", json.dumps(path.overrides), "--calls", str(options.calls),
               "--threads", str(options.threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=options.timeout_s)
    except subprocess.TimeoutExpired:
        return Measurement(skipped=f"failed (over {options.timeout_s:.0f} s)")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return Measurement(skipped=f"failed (exit {done.returncode}: {last})")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(statistics.median(measured["seconds"]), measured["peak_gb"],
                       len(measured["seconds"]))


@dataclass(frozen=True)
class Sweep:
    """What :func:`size_sweep` measured.

    Attributes:
        rows: one dict per size: ``height, width, megapixels``, ``paths`` (path name ->
            :class:`Measurement`).
        paths: the paths measured.
        notes: one line for each path that could not run.
        options: the options used.
    """

    rows: list[dict]
    paths: list[SweepPath]
    notes: list[str]
    options: SweepOptions


def size_sweep(options: SweepOptions = SweepOptions()) -> Sweep:
    """Measure every size on every available path, smallest size first."""
    paths, notes = sweep_paths()
    rows = []
    for height, width in options.sizes:
        measured = {path.name: measure(height, width, path, options) for path in paths}
        rows.append({"height": height, "width": width, "megapixels": height * width / 1e6,
                     "paths": measured})
    return Sweep(rows, paths, notes, options)


def slope_ms_per_mp(rows: Sequence[dict], path: SweepPath) -> tuple[float, float, list[str]]:
    """Least-squares ``seconds = slope * MP + intercept`` over the sizes above the path's working
    size (measured ones only).

    Returns:
        ``(slope in ms per megapixel, intercept in ms, the sizes used as "W x H")``; NaNs with
        fewer than two sizes.
    """
    work = path.work_size()
    used = [r for r in rows if max(r["height"], r["width"]) > work
            and not r["paths"][path.name].skipped]
    slope, intercept = fit_line([r["megapixels"] for r in used],
                                [r["paths"][path.name].seconds for r in used])
    return 1e3 * slope, 1e3 * intercept, [f"{r['width']} x {r['height']}" for r in used]


def format_markdown(sweep: Sweep) -> str:
    """The sweep as a markdown table (one row per size), then the slopes and notes."""
    rows, paths, options = sweep.rows, sweep.paths, sweep.options
    header = ["size", "MP"]
    for path in paths:
        header += [f"{path.name}: s", "ms / MP", "peak GB"]
    full = next((path for path in paths if path.full_resolution), None)
    compared = [path for path in paths if not path.full_resolution] if full is not None else []
    header += [f"full / {path.short or path.name}" for path in compared]
    lines = []
    for r in rows:
        line = [f"{r['width']} x {r['height']}", f"{r['megapixels']:.2f}"]
        for path in paths:
            m: Measurement = r["paths"][path.name]
            if m.skipped:
                line += [m.skipped, "-", "-"]
            else:
                line += [f"{m.seconds:.3f}", f"{1e3 * m.seconds / r['megapixels']:.0f}", f"{m.peak_gb:.2f}"]
        for path in compared:
            assert full is not None
            slow, fast = r["paths"][full.name], r["paths"][path.name]
            line.append("-" if slow.skipped or fast.skipped else f"{slow.seconds / fast.seconds:.1f}x")
        lines.append(line)
    text = [markdown_table(header, lines, text_columns=1), ""]
    for path in paths:
        slope, intercept, used = slope_ms_per_mp(rows, path)
        if math.isnan(slope):
            text.append(f"- slope, {path.name}: n/a (fewer than two measured sizes above its "
                        f"working size)")
        else:
            text.append(f"- slope, {path.name}: {slope:.0f} ms per MP (intercept {intercept:.0f} ms; "
                        f"least squares over {', '.join(used)})")
    text.append(f"- {options.calls} timed calls per cell after one warm-up, median; a fresh process per "
                f"cell, peak GB = its peak resident memory (1e9 bytes); {options.threads} thread(s); "
                f"{options.mode.upper()}, k = {options.k}; full-resolution path "
                + (f"skipped above {options.max_full_pixels / 1e6:g} MP (--max-full-pixels)"
                   if options.max_full_pixels else "on every size (--max-full-pixels 0)"))
    text += [f"- {note}" for note in sweep.notes]
    return "\n".join(text)
