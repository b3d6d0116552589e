"""``python -m lowlight.evaluation``: run the evaluation protocols of ``../shared/PROTOCOL.md``.

Examples::

    uv run python -m lowlight.evaluation \
        --images ../shared/data/coco-mini/annotations/instances_val2017.json
    uv run python -m lowlight.evaluation --images photos/ --protocol b --methods dark,auto-gamma,lime
    uv run python -m lowlight.evaluation --images ../shared/data/lowlight-real/lime --no-reference

User mistakes (a missing path, an unknown method, a JSON that is not COCO) end with one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from lowlight.evaluation.images import ImageSetError, image_set_paths
from lowlight.evaluation.methods import (
    DEFAULT_METHODS,
    Method,
    MethodOptions,
    UnknownMethodError,
    available_methods,
    build_methods,
)
from lowlight.evaluation.pairs import PairSourceError
from lowlight.io.images import ImageReadError
from lowlight.protocols import protocol_version_count

USAGE_ERROR = 2
DEFAULT_OUT = Path("outputs/evaluate")


class UsageError(ValueError):
    """Arguments that parse but do not fit together."""


USER_ERRORS = (UsageError, ImageSetError, UnknownMethodError, ImageReadError, FileNotFoundError,
               PairSourceError)


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if not names or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _cluster_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if any(k < 1 for k in counts):
        raise argparse.ArgumentTypeError(f"cluster counts must be >= 1, got {text!r}")
    return counts


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments (defaults are the protocol)."""
    parser = argparse.ArgumentParser(
        prog="python -m lowlight.evaluation",
        description="Evaluate enhancers under protocol A or B (../shared/PROTOCOL.md).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path,
                        help="a COCO instances_*.json (images from the split folder beside "
                             "annotations/) or a folder of images")
    source.add_argument("--pairs", type=Path,
                        help="real (dark, bright) pairs scored at their own resolution: a folder "
                             "with low/ and high/, or an exposure-bracket folder or manifest "
                             "(its held-out val_real scenes; see --pairs-split)")
    parser.add_argument("--pairs-split", choices=("val_real", "all"), default="val_real",
                        help="bracket scenes scored by --pairs (default val_real: the held-out "
                             "scenes; the others train the shipped CNN)")
    parser.add_argument("--protocol", choices=("a", "b"), default="a",
                        help="a: global gamma (25 versions); b: uneven light + noise (10)")
    parser.add_argument("--methods", type=_names, default=list(DEFAULT_METHODS),
                        help=f"comma-separated, from: {', '.join(available_methods())} "
                             f"(default: {','.join(DEFAULT_METHODS)})")
    parser.add_argument("--k", type=_cluster_counts, default=MethodOptions().k,
                        help="cluster counts of the GP methods, one row each (default: 10,30)")
    parser.add_argument("--max-images", type=_positive_int, default=None,
                        help="evaluate only the first N images (sorted by file name)")
    parser.add_argument("--versions", type=_positive_int, default=None,
                        help="quick check: N versions spread over the protocol's "
                             "(default: all, which is the protocol)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default: {DEFAULT_OUT}/protocol_<a|b> or "
                             f"{DEFAULT_OUT}/no_reference)")
    parser.add_argument("--wandb", action="store_true",
                        help="log tables and the contact sheet to W&B (offline unless logged in "
                             "or WANDB_MODE is set)")
    parser.add_argument("--no-reference", action="store_true",
                        help="real dark photos without ground truth: enhance each (longer side "
                             "--longer-side) and write only the contact sheet")
    parser.add_argument("--native", action="store_true",
                        help="protocols at each photo's own resolution (no 256 x 256 resize): the darkening "
                             "applied to the full-size photo")
    parser.add_argument("--upscale", type=_positive_int, default=1,
                        help="with --native: enlarge each photo this many times first (bicubic), e.g. 2 or 4 "
                             "to make 1280- and 2560-pixel versions of 640-pixel photos (default 1)")
    parser.add_argument("--longer-side", type=_positive_int, default=512,
                        help="--no-reference resize: longer side in pixels (default 512)")
    parser.add_argument("--time-calls", type=_non_negative_int, default=20,
                        help="timed calls per method after one warm-up (0: no timing; the "
                             "protocol asks for >= 20)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="torch threads (default: torch's current count; reported)")
    parser.add_argument("--sheet-images", type=_positive_int, default=4,
                        help="images (rows) on the protocol's contact sheet")
    parser.add_argument("--device", default="cpu", help="device for learned methods")
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="trained checkpoints for learned methods")
    parser.add_argument("--gpe-mat", type=Path, default=None,
                        help="GPE's reference CNN (.mat) for the gpe method")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.wandb:
        from lowlight.io.wandb_mode import resolve_wandb_mode

        try:
            resolve_wandb_mode()  # a bad WANDB_MODE fails now, not after the whole run
        except ValueError as err:
            raise UsageError(str(err)) from err
    if args.versions is not None and args.versions > protocol_version_count(args.protocol):
        raise UsageError(
            f"--versions {args.versions}: protocol {args.protocol.upper()} has only "
            f"{protocol_version_count(args.protocol)}"
        )
    if args.upscale != 1 and not args.native:
        raise UsageError(f"--upscale {args.upscale}: only with --native")
    options = MethodOptions(
        device=args.device, k=args.k, checkpoint_dir=args.checkpoint_dir, gpe_mat=args.gpe_mat
    )
    if args.pairs is not None:
        _run_pairs(args, build_methods(args.methods, options))
        return
    paths = image_set_paths(args.images, args.max_images)
    methods = build_methods(args.methods, options)
    if args.no_reference:
        _run_without_reference(args, paths, methods)
    else:
        _run_protocol(args, paths, methods)


def _wandb_config(args: argparse.Namespace) -> dict[str, object]:
    config = {**vars(args), "threads": torch.get_num_threads()}
    return {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}


def _run_protocol(args: argparse.Namespace, paths: list[Path], methods: list[Method]) -> None:
    from lowlight.evaluation.report import write_results
    from lowlight.evaluation.runner import RunOptions, run_protocol

    out_dir = args.out if args.out is not None else DEFAULT_OUT / f"protocol_{args.protocol}"
    run_options = RunOptions(
        protocol=args.protocol,
        versions=args.versions,
        time_calls=args.time_calls,
        sheet_images=args.sheet_images,
        progress=not args.no_progress,
        native_upscale=args.upscale if args.native else None,
    )
    result = run_protocol(paths, methods, run_options)
    written = write_results(result, out_dir, args.time_calls)
    print(written["markdown"].read_text(encoding="utf-8"))
    print(f"wrote {out_dir}/ ({', '.join(p.name for p in written.values())})", file=sys.stderr)
    if args.wandb:
        from lowlight.evaluation.tracking import log_to_wandb

        log_to_wandb(result, written["sheet"], _wandb_config(args), k_plot=written.get("k_plot"))


def _without_truth_readers(methods: list[Method], where: str) -> list[Method]:
    """The methods that do not read the true darkening; a note names the others.

    Raises:
        UsageError: none is left.
    """
    skipped = [m.name for m in methods if m.needs_truth]
    if skipped:
        print(f"note: skipping {', '.join(skipped)} (needs the true darkening)", file=sys.stderr)
    kept = [m for m in methods if not m.needs_truth]
    if not kept:
        raise UsageError(f"no method left to run {where}")
    return kept


def _run_pairs(args: argparse.Namespace, methods: list[Method]) -> None:
    from lowlight.evaluation.pairs import pair_paths, run_pairs, write_pair_results

    methods = _without_truth_readers(methods, "on real pairs")
    pairs = pair_paths(args.pairs, args.pairs_split)[: args.max_images]
    out_dir = args.out if args.out is not None else DEFAULT_OUT / "pairs"
    result = run_pairs(pairs, methods, args.sheet_images, progress=not args.no_progress)
    written = write_pair_results(result, args.pairs, out_dir)
    print(written["markdown"].read_text(encoding="utf-8"))
    print(f"wrote {out_dir}/ ({', '.join(p.name for p in written.values())})", file=sys.stderr)


def _run_without_reference(
    args: argparse.Namespace, paths: list[Path], methods: list[Method]
) -> None:
    from lowlight.evaluation.report import write_contact_sheet
    from lowlight.evaluation.runner import run_without_reference

    methods = _without_truth_readers(methods, "without ground truth")
    out_dir = args.out if args.out is not None else DEFAULT_OUT / "no_reference"
    sheet = run_without_reference(paths, methods, args.longer_side, progress=not args.no_progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    sheet_path = out_dir / "contact_sheet.png"
    write_contact_sheet(sheet, sheet_path, cell=min(args.longer_side, 384))
    print(f"wrote {sheet_path}", file=sys.stderr)
    if args.wandb:
        from lowlight.evaluation.tracking import log_to_wandb

        log_to_wandb(None, sheet_path, _wandb_config(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0, or 2 for a user mistake)."""
    args = build_parser().parse_args(argv)
    try:
        _run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    return 0
