"""``python -m lowlight.evaluation.gate_sweep``: choose the noise and exposure gates' thresholds.

Issue 9 asks for every threshold to be chosen on a split of the training side, never on the
report set. This scores the shipped enhancer under protocols A and B (PROTOCOL.md) with each
candidate pair of gates, on a folder of held-out training photos, and prints one table per input
kind (A dark, B dark, bright): PSNR, SSIM and SIFT F1; with ``--pairs``, also on the held-out real
exposure-bracket pairs (``val_real``), the other half of the training side: real camera noise is
what the noise gate has to read.

A gated output is composed from two enhancements of each input, without gates: the CNN's
reference and the GP's output. At the working size (protocol images are 256 x 256) the enhancer
composes its gates exactly so (tested against :class:`~lowlight.enhance.enhancer.Enhancer`):
``lerp(reference, gp, noise weight)``, then ``lerp(., input, exposure weight)``. So every candidate
costs metrics, not enhancements. Example::

    uv run python -m lowlight.evaluation.gate_sweep \\
        --train-coco ../shared/data/coco-mini/annotations/instances_train2017.json \\
                     ../shared/data/coco-extra/annotations/instances_train2017.json \\
        --train-dirs ../shared/data/cbsd432 --holdout-percent 10 \\
        --noise-gates none,0.0015:0.003,0.003:0.006 --exposure-gates 0.3:0.4,none

``--train-coco`` / ``--train-dirs`` / ``--holdout-percent`` name the training sources as the
training configs do (``configs/rgb_cnn_v2.yaml``) and take the photos they hold out
(:func:`lowlight.data.sources.split_holdout`); ``--images`` takes a folder instead.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from lowlight.data.brackets import read_pair
from lowlight.data.sources import DataSourceError, gather_image_paths, split_holdout
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig, keep_neutral
from lowlight.evaluation.images import ImageSetError, image_set_paths, load_ground_truth
from lowlight.evaluation.pairs import PairSourceError, pair_paths
from lowlight.metrics.quality import psnr_per_image, ssim_per_image
from lowlight.metrics.sift import SiftFeatures, image_features, sift_score
from lowlight.ops.gates import estimate_noise_sigma, exposure_weight, linear_ramp
from lowlight.protocols import protocol_versions, spread_versions

Gate = tuple[float, float] | None

#: the input kinds the tables are split by (``REAL_PAIRS`` only with pairs)
INPUT_KINDS = ("A dark", "B dark", "bright")
REAL_PAIRS = "real pairs"


@dataclass(frozen=True)
class GateCandidate:
    """One pair of thresholds: ``EnhancerConfig.noise_gate`` and ``exposure_gate`` (``None``: off)."""

    noise: Gate
    exposure: Gate

    def label(self) -> str:
        def text(gate: Gate) -> str:
            return "off" if gate is None else f"{gate[0]:g}-{gate[1]:g}"

        return f"noise {text(self.noise)}, exposure {text(self.exposure)}"


@dataclass
class CandidateScores:
    """Per-input metrics of one candidate on one input kind; unchanged bright inputs counted apart."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    unchanged: int = 0


def gated_output(lq: Tensor, reference: Tensor, gp_output: Tensor, candidate: GateCandidate,
                 sigma: Tensor | None = None) -> Tensor:
    """What the enhancer with ``candidate``'s gates returns, from its two ungated outputs.

    Args:
        lq: (B, 3, H, W) float in [0, 1], the input, no larger than the working size.
        reference: (B, 3, H, W) float in [0, 1], the CM's reference (``Enhancer.reference``, clamped).
        gp_output: (B, 3, H, W) float in [0, 1], the enhancer's output with both gates off.
        sigma: (B,) ``estimate_noise_sigma(lq)``, when the caller has it (one per input, not per candidate).

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    out = gp_output
    if candidate.noise is not None:
        sigma = estimate_noise_sigma(lq) if sigma is None else sigma
        out = torch.lerp(reference, gp_output, linear_ramp(sigma, *candidate.noise))
    out = out.clamp(0.0, 1.0)
    if candidate.exposure is not None:
        out = torch.lerp(out, lq, exposure_weight(lq, *candidate.exposure))
    return keep_neutral(lq, out)


def ungated_enhancer(k: int = 30, seed: int = 0, checkpoint: Path | None = None) -> Enhancer:
    """The shipped CM with both gates off (the candidates put them back)."""
    config = EnhancerConfig(gp=GPOptions(k=k, seed=seed), exposure_gate=None, noise_gate=None)
    return Enhancer.from_checkpoint(config, checkpoint)


def gate_sweep(paths: Sequence[Path], candidates: Sequence[GateCandidate], enhancer: Enhancer,
               versions: int | None = None, progress: bool = True) -> dict[str, dict[GateCandidate, CandidateScores]]:
    """Score every candidate on protocol A's and B's inputs (and the bright input) of ``paths``.

    Args:
        paths: ground-truth photos, resized to 256 x 256 as PROTOCOL.md says.
        enhancer: from :func:`ungated_enhancer` (both gates off; at 256 x 256 no working copy).
        versions: versions per protocol, spread over its range (``None``: all, the protocol).

    Returns:
        input kind (:data:`INPUT_KINDS`) -> candidate -> scores.
    """
    _check_ungated(enhancer)
    scores = {kind: {c: CandidateScores() for c in candidates} for kind in INPUT_KINDS}
    for index, path in enumerate(tqdm(paths, desc="gate sweep", unit="photo", disable=not progress)):
        truth = load_ground_truth(path)
        truth_features = image_features(truth[0])
        for protocol in ("a", "b"):
            chosen = None if versions is None else spread_versions(protocol, versions)
            for version in protocol_versions(protocol, truth, index, path.name, chosen, include_bright=protocol == "a"):
                kind = "bright" if version.is_bright else f"{protocol.upper()} dark"
                _score_candidates(version.image, truth, truth_features, enhancer, scores[kind], version.is_bright)
    return scores


def pair_sweep(pairs: Sequence[tuple[Path, Path]], candidates: Sequence[GateCandidate], enhancer: Enhancer,
               progress: bool = True) -> dict[GateCandidate, CandidateScores]:
    """Score every candidate on real (dark, bright) pairs, each at its own resolution.

    Args:
        pairs: (dark file, bright file), e.g. :func:`lowlight.evaluation.pairs.pair_paths` (``val_real``).
        enhancer: from :func:`ungated_enhancer`.

    Raises:
        ValueError: a dark frame is larger than the enhancer's working size (the composition is
            exact only where the working copy is the image).
    """
    _check_ungated(enhancer)
    scores = {c: CandidateScores() for c in candidates}
    for dark_path, bright_path in tqdm(pairs, desc="gate sweep, pairs", unit="pair", disable=not progress):
        lq, gt = read_pair(dark_path, bright_path)  # (3, H, W) each
        side = enhancer.config.work_size
        if side and max(lq.shape[-2:]) > side:
            raise ValueError(f"{dark_path}: {lq.shape[-1]} x {lq.shape[-2]} is larger than the working size {side}; "
                             "gate_sweep composes gates only where the working copy is the image")
        _score_candidates(lq[None], gt[None], image_features(gt[None]), enhancer, scores, is_bright=False)
    return scores


def _check_ungated(enhancer: Enhancer) -> None:
    if enhancer.config.noise_gate is not None or enhancer.config.exposure_gate is not None:
        raise ValueError("gate_sweep needs an enhancer with both gates off (ungated_enhancer)")


def _score_candidates(lq: Tensor, truth: Tensor, truth_features: SiftFeatures, enhancer: Enhancer,
                      records: dict[GateCandidate, CandidateScores], is_bright: bool) -> None:
    """Append each candidate's metrics for one input (1, 3, H, W) to ``records``."""
    with torch.inference_mode():
        reference = enhancer.reference(lq).clamp(0.0, 1.0)
        gp_output = enhancer(lq).image
    sigma = estimate_noise_sigma(lq)
    done: dict[bytes, tuple[float, float, float]] = {}
    for candidate, record in records.items():
        out = gated_output(lq, reference, gp_output, candidate, sigma)
        if is_bright and torch.equal(out, lq):
            record.unchanged += 1  # PSNR would be infinite: counted, as the bright row does
            continue
        key = out.numpy().tobytes()  # candidates that agree on this input share metrics
        if key not in done:
            done[key] = (float(psnr_per_image(out, truth)[0]), float(ssim_per_image(out, truth)[0]),
                         sift_score(image_features(out[0]), truth_features).f1)
        psnr, ssim, f1 = done[key]
        record.psnr.append(psnr)
        record.ssim.append(ssim)
        record.f1.append(f1)


def format_tables(scores: dict[str, dict[GateCandidate, CandidateScores]]) -> str:
    """One markdown table per input kind: mean PSNR / SSIM / SIFT F1 of the inputs the gates changed.

    Inputs returned unchanged (bright ones the exposure gate keeps) have no finite PSNR; the
    "SSIM, all" column counts them as 1, the mean over every input of the kind.
    """

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else math.nan

    parts = []
    for kind, by_candidate in scores.items():
        parts.append(f"\n**{kind}**\n\n| gates | PSNR | SSIM | SIFT F1 | SSIM, all | inputs | returned unchanged |\n"
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for candidate, record in by_candidate.items():
            count = len(record.ssim) + record.unchanged
            ssim_all = (sum(record.ssim) + record.unchanged) / count if count else math.nan
            parts.append(f"| {candidate.label()} | {mean(record.psnr):.2f} | {mean(record.ssim):.4f} | "
                         f"{mean(record.f1):.4f} | {ssim_all:.4f} | {count} | {record.unchanged} |")
    return "\n".join(parts) + "\n"


def parse_gates(text: str) -> list[Gate]:
    """``"none,0.0015:0.003"`` -> ``[None, (0.0015, 0.003)]``.

    Raises:
        ValueError: an item is neither ``none`` nor ``LOW:HIGH`` with ``0 <= LOW < HIGH``.
    """
    gates: list[Gate] = []
    for item in text.split(","):
        item = item.strip().lower()
        if item in ("none", "off"):
            gates.append(None)
            continue
        try:
            low, high = (float(v) for v in item.split(":"))
        except ValueError:
            raise ValueError(f"gate {item!r}: expected none or LOW:HIGH, e.g. 0.0015:0.003") from None
        if not 0 <= low < high:
            raise ValueError(f"gate {item!r}: expected 0 <= LOW < HIGH")
        gates.append((low, high))
    return gates


def held_out_photos(coco_jsons: Sequence[Path], folders: Sequence[Path], percent: int,
                    max_images: int | None = None) -> list[Path]:
    """The training photos the training configs hold out (``holdout_percent``), sorted by file name.

    Raises:
        ValueError: none is held out, or ``percent`` is outside [1, 100).
    """
    if not 1 <= percent < 100:
        raise ValueError(f"--holdout-percent must be in [1, 100), got {percent}")
    _, held = split_holdout(gather_image_paths(coco_jsons, folders), percent)
    held = sorted(held, key=lambda path: (path.name, str(path)))[:max_images]
    if not held:
        raise ValueError(f"no photo of the training sources is held out at {percent} %")
    return held


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lowlight.evaluation.gate_sweep", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path,
                        help="held-out training photos (a folder or a COCO instances_*.json); never the report set")
    source.add_argument("--train-coco", type=Path, nargs="+",
                        help="the training COCO instances_*.json files whose held-out photos are scored")
    parser.add_argument("--train-dirs", type=Path, nargs="*", default=[],
                        help="training photo folders, with --train-coco")
    parser.add_argument("--holdout-percent", type=int, default=10,
                        help="with --train-coco: the training configs' holdout_percent (default 10)")
    parser.add_argument("--noise-gates", default=f"none,{SUGGESTED_NOISE_GATE[0]}:{SUGGESTED_NOISE_GATE[1]}",
                        help="comma-separated LOW:HIGH noise sigmas or none (default: none and the shipped one)")
    parser.add_argument("--exposure-gates", default="0.3:0.4",
                        help="comma-separated LOW:HIGH median lumas or none (default: the shipped 0.3:0.4)")
    parser.add_argument("--pairs", type=Path, default=None,
                        help="also score real (dark, bright) pairs: an exposure-bracket folder (its held-out "
                             "val_real scenes) or a folder with low/ and high/")
    parser.add_argument("--k", type=int, default=30, help="cluster centres (default 30)")
    parser.add_argument("--versions", type=int, default=None, help="N versions spread over each protocol's (default all)")
    parser.add_argument("--max-images", type=int, default=None, help="first N photos (sorted by name)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="CM checkpoint (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0, or 2 for a user mistake (one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        candidates = [GateCandidate(noise, exposure) for exposure in parse_gates(args.exposure_gates)
                      for noise in parse_gates(args.noise_gates)]
        paths = image_set_paths(args.images, args.max_images) if args.images is not None else held_out_photos(
            args.train_coco, args.train_dirs, args.holdout_percent, args.max_images)
        if args.versions is not None and args.versions < 1:
            raise ValueError(f"--versions must be >= 1, got {args.versions}")
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        enhancer = ungated_enhancer(args.k, checkpoint=args.checkpoint)
        pairs = None if args.pairs is None else pair_paths(args.pairs)
        scores = gate_sweep(paths, candidates, enhancer, args.versions, progress=not args.no_progress)
        if pairs is not None:
            scores[REAL_PAIRS] = pair_sweep(pairs, candidates, enhancer, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, ImageSetError, DataSourceError, PairSourceError) as err:
        print(f"gate_sweep: error: {err}", file=sys.stderr)
        return 2
    where = args.images or f"{args.holdout_percent} % held out of the training sources"
    print(f"{len(paths)} photos ({where}), k = {args.k}, "
          f"{'all' if args.versions is None else args.versions} versions per protocol")
    print(format_tables(scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
