"""Writing results: markdown tables, per-pair CSV and JSON, the contact sheet PNG, a plot.

An output identical to its ground truth (the identity on the bright input) has PSNR = inf: the
per-pair CSV writes ``inf``, the JSON ``null`` (JSON has no infinity), and the tables' PSNR is
the mean over the other pairs with the count of identical ones in an "identical" column.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from lowlight.evaluation.runner import (
    BRIGHT_INPUT,
    DARK_INPUT,
    ContactSheet,
    EvaluationResult,
    MethodSummary,
    PairResult,
)
from lowlight.io.atomic import atomic_path
from lowlight.io.images import to_uint8, write_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RESULTS_MD = "results.md"
PER_IMAGE_CSV = "per_image.csv"
RESULTS_JSON = "results.json"
CONTACT_SHEET_PNG = "contact_sheet.png"
PSNR_PLOT_PNG = "psnr_vs_gamma.png"
K_PLOT_PNG = "metrics_vs_k.png"

_HEADER = ("method", "PSNR", "SSIM", "SIFT P", "SIFT R", "SIFT F1")


def _number(value: float, digits: int) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def markdown_table(
    rows: Iterable[MethodSummary], with_time: bool = True, with_identical: bool = False
) -> str:
    """A markdown table: method, PSNR (dB), SSIM, SIFT P, R, F1, optionally time (ms) and the
    count of outputs identical to the ground truth."""
    header = list(_HEADER)
    if with_time:
        header.append("time (ms)")
    if with_identical:
        header.append("identical")
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
    ]
    for row in rows:
        cells = [
            row.method,
            _number(row.psnr, 2),
            _number(row.ssim, 4),
            _number(row.sift_precision, 4),
            _number(row.sift_recall, 4),
            _number(row.sift_f1, 4),
        ]
        if with_time:
            cells.append("-" if row.time_ms is None else _number(row.time_ms, 2))
        if with_identical:
            cells.append(f"{row.identical}/{row.pairs}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_markdown(result: EvaluationResult, time_calls: int) -> str:
    """The report: the protocol's table, the bright-input table, and how time was measured."""
    dark_rows = result.summaries(DARK_INPUT)
    bright_rows = result.summaries(BRIGHT_INPUT)
    name = result.protocol.upper()
    pairs = dark_rows[0].pairs if dark_rows else 0
    gammas = ", ".join(f"{g:.3g}" for g in result.gammas)
    where = "" if result.native_upscale is None else (
        " at native resolution" + ("" if result.native_upscale == 1 else f" x {result.native_upscale}"))
    parts = [
        f"## Protocol {name}{where}: {len(result.images)} images x {len(result.versions)} versions "
        f"({pairs} pairs per method)",
        "",
        f"Gammas: {gammas}. Means over all pairs; SIFT P, R, F1 averaged per pair.",
        "",
        markdown_table(
            dark_rows, with_time=True, with_identical=any(r.identical for r in dark_rows)
        ),
        "",
    ]
    if result.times:
        parts += [
            f"Time: median of {time_calls} calls after one warm-up, one {result.timed_size[1]} x "
            f"{result.timed_size[0]} image, batch of one, {result.threads} torch thread(s).",
            "",
        ]
    parts += [
        f"### Bright input (gamma = 1, the original image; {len(result.images)} images)",
        "",
        "PSNR over the outputs that differ from the input; identical: images returned unchanged "
        "(PSNR = inf).",
        "",
        markdown_table(bright_rows, with_time=False, with_identical=True),
        "",
    ]
    return "\n".join(parts)


def _atomic_write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def write_per_image_csv(pairs: Iterable[PairResult], path: Path) -> None:
    """One row per (method, image, version) pair, columns the :class:`PairResult` fields."""
    names = [f.name for f in dataclasses.fields(PairResult)]
    rows = [dataclasses.asdict(p) for p in pairs]
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def _finite_or_none(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def results_dict(result: EvaluationResult, time_calls: int) -> dict:
    """Everything in ``results.json``: settings, summary rows, timings and per-pair values."""
    return _finite_or_none(
        {
            "protocol": result.protocol,
            "images": result.images,
            "versions": result.versions,
            "gammas": result.gammas,
            "methods": result.methods,
            "threads": result.threads,
            "time_calls": time_calls,
            "summary": [dataclasses.asdict(r) for r in result.summaries(DARK_INPUT)],
            "bright": [dataclasses.asdict(r) for r in result.summaries(BRIGHT_INPUT)],
            "times": {k: dataclasses.asdict(v) for k, v in result.times.items()},
            "pairs": [dataclasses.asdict(p) for p in result.pairs],
            "null_means": "an infinite PSNR (output identical to its ground truth)",
        }
    )


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit_tile(tile: Tensor, cell: int) -> Image.Image:
    """A (3, H, W) tile scaled to fit a cell x cell square (aspect kept), centred on black."""
    image = Image.fromarray(to_uint8(tile))
    scale = cell / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (cell, cell))
    canvas.paste(image, ((cell - size[0]) // 2, (cell - size[1]) // 2))
    return canvas


def render_contact_sheet(
    sheet: ContactSheet, cell: int = 256, label_height: int = 20
) -> np.ndarray:
    """The sheet as one image: a label strip over each row, column labels in every strip.

    Returns:
        (H, W, 3) uint8.
    """
    if not sheet.tiles:
        raise ValueError("the contact sheet has no rows")
    columns = len(sheet.column_labels)
    if any(len(row) != columns for row in sheet.tiles):
        raise ValueError(f"every row needs {columns} tiles, one per column label")
    font = _font(max(10, label_height - 6))
    height = len(sheet.tiles) * (cell + label_height)
    canvas = Image.new("RGB", (columns * cell, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for row_index, row in enumerate(sheet.tiles):
        top = row_index * (cell + label_height)
        for column, tile in enumerate(row):
            label = sheet.column_labels[column]
            if column == 0 and row_index < len(sheet.row_labels):
                label = f"{sheet.row_labels[row_index]}: {label}"
            draw.text((column * cell + 3, top + 2), label, fill=(0, 0, 0), font=font)
            canvas.paste(_fit_tile(tile, cell), (column * cell, top + label_height))
    return np.asarray(canvas)


def write_contact_sheet(sheet: ContactSheet, path: Path, cell: int = 256) -> None:
    """Render :func:`render_contact_sheet` and write it as a PNG (atomically)."""
    write_png(render_contact_sheet(sheet, cell), path)


def write_psnr_plot(result: EvaluationResult, path: Path) -> None:
    """Mean PSNR and SIFT F1 per gamma, one line per method (matplotlib, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (psnr_axis, f1_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name in result.methods:
        per_version = [
            [p for p in result.pairs if p.method == name and p.version == v]
            for v in result.versions
        ]
        psnr = [np.mean([p.psnr for p in pairs]) for pairs in per_version]
        f1 = [np.mean([p.sift_f1 for p in pairs]) for pairs in per_version]
        psnr_axis.plot(result.gammas, psnr, marker=".", label=name)
        f1_axis.plot(result.gammas, f1, marker=".", label=name)
    psnr_axis.set(xlabel="darkening gamma", ylabel="mean PSNR (dB)")
    f1_axis.set(xlabel="darkening gamma", ylabel="mean SIFT F1")
    psnr_axis.legend(fontsize=8)
    figure.suptitle(f"Protocol {result.protocol.upper()}, {len(result.images)} images")
    figure.tight_layout()
    _save_figure(figure, path)


def _save_figure(figure: Figure, path: Path) -> None:
    """Write a matplotlib figure as a PNG through a temporary file, then close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(figure)


_K_SUFFIX = re.compile(r"^(?P<base>.+) k=(?P<k>\d+)$")


def k_sweep(rows: Iterable[MethodSummary]) -> dict[str, list[tuple[int, MethodSummary]]]:
    """The rows of GP methods run at several ``--k`` (names ``"<method> k=<k>"``), by method.

    Returns:
        ``{method: [(k, row), ...]}`` sorted by k, for methods with two or more k values.
    """
    sweeps: dict[str, list[tuple[int, MethodSummary]]] = {}
    for row in rows:
        match = _K_SUFFIX.match(row.method)
        if match is not None:
            sweeps.setdefault(match["base"], []).append((int(match["k"]), row))
    return {base: sorted(points, key=lambda point: point[0]) for base, points in sweeps.items() if len(points) > 1}


def write_k_plot(result: EvaluationResult, path: Path) -> bool:
    """PSNR, SIFT F1 and (when timed) time per image against k, one line per GP method: the
    paper's Tables I and II as a figure. Written only when some method ran at two or more k.

    Returns:
        Whether the plot was written.
    """
    sweeps = k_sweep(result.summaries(DARK_INPUT))
    if not sweeps:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("psnr", "mean PSNR (dB)"), ("sift_f1", "mean SIFT F1")]
    if result.times:
        panels.append(("time_ms", "time per image (ms)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
    for axis, (field, label) in zip(axes, panels, strict=True):
        for base, points in sweeps.items():
            values = [getattr(row, field) for _, row in points]
            values = [math.nan if v is None else v for v in values]
            axis.plot([k for k, _ in points], values, marker="o", label=base)
        axis.set(xlabel="k (clusters)", ylabel=label, xscale="log")
        ks = sorted({k for points in sweeps.values() for k, _ in points})
        axis.set_xticks(ks, [str(k) for k in ks])
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(
        f"Protocol {result.protocol.upper()}: {len(result.images)} images x {len(result.versions)} versions"
        + (f", {result.threads} torch thread(s)" if result.times else "")
    )
    figure.tight_layout()
    _save_figure(figure, path)
    return True


def write_results(result: EvaluationResult, out_dir: Path, time_calls: int) -> dict[str, Path]:
    """Write every file of a protocol run into ``out_dir`` (created if needed).

    Returns:
        The paths written, by kind: ``markdown``, ``csv``, ``json``, ``sheet``, ``plot``, and
        ``k_plot`` when a GP method ran at several k.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / RESULTS_MD,
        "csv": out_dir / PER_IMAGE_CSV,
        "json": out_dir / RESULTS_JSON,
        "sheet": out_dir / CONTACT_SHEET_PNG,
        "plot": out_dir / PSNR_PLOT_PNG,
    }
    _atomic_write_text(results_markdown(result, time_calls), paths["markdown"])
    write_per_image_csv(result.pairs, paths["csv"])
    text = json.dumps(results_dict(result, time_calls), indent=1, allow_nan=False)
    _atomic_write_text(text + "\n", paths["json"])
    write_contact_sheet(result.sheet, paths["sheet"])
    write_psnr_plot(result, paths["plot"])
    if write_k_plot(result, out_dir / K_PLOT_PNG):
        paths["k_plot"] = out_dir / K_PLOT_PNG
    return paths
