"""Real (dark, bright) pairs scored at their own resolution: ``python -m lowlight.evaluate --pairs``.

Two kinds of source:

* a folder with ``low/`` and ``high/`` holding images of the same stems (LOL's layout);
* an exposure-bracket folder or its manifest (:mod:`lowlight.data.brackets`): the pairs of the
  held-out ``val_real`` scenes by default (the others train the shipped CNN), or of every scene.

No darkening is applied and nothing is resized (a ``high`` frame of another size is resized to its
``low`` frame's); methods that read the true darkening (the oracle) cannot run here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from lowlight.atomic import atomic_path
from lowlight.data.brackets import BracketOptions, load_scenes, read_pair, scene_pairs, split_scenes
from lowlight.evaluation.methods import Method
from lowlight.evaluation.protocols import DarkVersion, ImageContext
from lowlight.evaluation.report import markdown_table, write_contact_sheet, write_per_image_csv
from lowlight.evaluation.runner import (
    DARK_INPUT,
    ContactSheet,
    EvaluationResult,
    enhance,
    score_outputs,
)
from lowlight.evaluation.sift import image_features
from lowlight.imageio import list_images

PAIRS_PROTOCOL = "pairs"
PairSplit = Literal["val_real", "all"]


class PairSourceError(ValueError):
    """A ``--pairs`` source that holds no usable pair."""


def pair_paths(source: Path, split: PairSplit = "val_real") -> list[tuple[Path, Path]]:
    """The (dark, bright) file pairs of ``source``, see the module docstring.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        PairSourceError: no pair found, or ``low/`` stems without a ``high/`` partner.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"--pairs: not found: {source}")
    if (source / "low").is_dir() and (source / "high").is_dir():
        highs = {p.stem: p for p in list_images(source / "high")}
        lows = list_images(source / "low")
        missing = [p.name for p in lows if p.stem not in highs]
        if missing:
            raise PairSourceError(f"{source}/low has no high/ partner for {', '.join(missing[:5])}")
        pairs = [(p, highs[p.stem]) for p in lows]
    else:
        scenes = load_scenes(source, progress=True)
        train, val = split_scenes(scenes, BracketOptions().val_percent)
        pairs = scene_pairs(val if split == "val_real" else train + val)
    if not pairs:
        raise PairSourceError(f"no (dark, bright) pairs in {source}")
    return pairs


def run_pairs(
    pairs: list[tuple[Path, Path]], methods: list[Method], sheet_images: int = 4,
    progress: bool = True,
) -> EvaluationResult:
    """Enhance every dark frame with every method and score it against its bright frame.

    Returns:
        An :class:`EvaluationResult` with protocol ``"pairs"``, one version per pair.
    """
    if not pairs or not methods:
        raise ValueError("run_pairs needs at least one pair and one method")
    sheet = ContactSheet(["dark", *(m.name for m in methods), "ground truth"])
    results = []
    for index, (dark_path, bright_path) in enumerate(
        tqdm(pairs, desc="pairs", unit="pair", disable=not progress)
    ):
        lq, gt = read_pair(dark_path, bright_path)  # (3, H, W) each
        truth = gt[None]
        version = DarkVersion(lq[None], ImageContext(PAIRS_PROTOCOL, index, dark_path.name, 0))
        truth_features = image_features(truth)
        row = [lq]
        for method in methods:
            output = enhance(method, version)  # (1, 3, H, W)
            results.extend(score_outputs(method.name, output, [version], truth, truth_features))
            row.append(output[0])
        if index < sheet_images:
            sheet.row_labels.append(dark_path.name)
            sheet.tiles.append([*row, gt])
    return EvaluationResult(
        protocol=PAIRS_PROTOCOL, images=[d.name for d, _ in pairs], versions=[0], gammas=[],
        methods=[m.name for m in methods], pairs=results, times={}, sheet=sheet,
    )


def write_pair_results(result: EvaluationResult, source: Path, out_dir: Path) -> dict[str, Path]:
    """``results.md`` (the table), ``per_image.csv``, ``results.json`` and ``contact_sheet.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = result.summaries(DARK_INPUT)
    text = "\n".join([
        f"## Real pairs: {len(result.images)} pairs from {source}, each at its own resolution",
        "",
        "Means over all pairs; SIFT P, R, F1 averaged per pair.",
        "",
        markdown_table(rows, with_time=False),
        "",
    ])
    paths = {
        "markdown": out_dir / "results.md", "csv": out_dir / "per_image.csv",
        "json": out_dir / "results.json", "sheet": out_dir / "contact_sheet.png",
    }
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(text, encoding="utf-8")
    write_per_image_csv(result.pairs, paths["csv"])
    summary = [
        {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
         for k, v in dataclasses.asdict(r).items()}
        for r in rows
    ]
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps({"source": str(source), "pairs": len(result.images),
                                   "summary": summary}, indent=1) + "\n")
    write_contact_sheet(result.sheet, paths["sheet"])
    return paths
