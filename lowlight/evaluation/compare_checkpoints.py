"""``python -m lowlight.evaluation.compare_checkpoints``: two-stage vs end-to-end checkpoints under PROTOCOL.md.

Each ``--model NAME MODE CHECKPOINT`` becomes one row (the enhancer of
:meth:`lowlight.enhance.enhancer.Enhancer.from_checkpoint`: learned GP hyperparameters when the file holds
them, the heuristic otherwise), run through the evaluation harness
(:func:`lowlight.evaluation.runner.run_protocol`), and written like ``python -m lowlight.evaluation``
(``results.md``, per-image CSV, JSON, contact sheet). Example::

    uv run python -m lowlight.evaluation.compare_checkpoints \\
        --images ../shared/data/coco-mini/annotations/instances_val2017.json --protocol a \\
        --model "cm two-stage" cm checkpoints/rgb_cnn.safetensors \\
        --model "cm e2e" cm checkpoints/e2e_cm.safetensors --max-images 20 --versions 9
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.evaluation.images import image_set_paths
from lowlight.evaluation.method import Method
from lowlight.protocols import ImageContext
from lowlight.enhance.clustered_gp import GPOptions


def checkpoint_method(name: str, mode: str, checkpoint: Path, k: int, use_gp: bool = True) -> Method:
    """An evaluation row enhancing with ``checkpoint`` (CNN, and learned GP tensors if any).

    Args:
        name: the row label.
        mode: ``"cm"`` or ``"lm"``.
        checkpoint: a ``.safetensors`` file of :func:`lowlight.enhance.checkpoints.save_reference_cnn`.
        k: cluster centres.
        use_gp: ``False``: the CNN's output alone.
    """
    config = EnhancerConfig(mode=mode, gp=GPOptions(k=k), use_gp=use_gp)  # type: ignore[arg-type]
    enhancer = Enhancer.from_checkpoint(config, checkpoint)

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            return enhancer(image).image

    return Method(name, enhance)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lowlight.evaluation.compare_checkpoints", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="COCO instances_*.json or a folder")
    parser.add_argument("--protocol", choices=("a", "b"), default="a")
    parser.add_argument("--model", nargs=3, action="append", required=True, metavar=("NAME", "MODE", "CHECKPOINT"),
                        help="one row: label, cm or lm, .safetensors file (repeat)")
    parser.add_argument("--cnn-alone", action="store_true", help="also a row per model with the CNN alone")
    parser.add_argument("--k", type=int, default=30, help="cluster centres (default 30)")
    parser.add_argument("--max-images", type=int, default=None, help="first N images (sorted by name)")
    parser.add_argument("--versions", type=int, default=None, help="N versions spread over the protocol's")
    parser.add_argument("--time-calls", type=int, default=20, help="timed calls per row (0: none)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path("outputs/compare_e2e"), help="output folder")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0, or 2 for a user mistake (one line on stderr)."""
    args = build_parser().parse_args(argv)
    from lowlight.evaluation.report import write_results
    from lowlight.evaluation.runner import RunOptions, run_protocol

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        methods = []
        for name, mode, checkpoint in args.model:
            if mode not in ("cm", "lm"):
                raise ValueError(f"--model {name!r}: mode must be cm or lm, got {mode!r}")
            methods.append(checkpoint_method(name, mode, Path(checkpoint), args.k))
            if args.cnn_alone:
                methods.append(checkpoint_method(f"{name} (CNN alone)", mode, Path(checkpoint), args.k, use_gp=False))
        paths = image_set_paths(args.images, args.max_images)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    options = RunOptions(protocol=args.protocol, versions=args.versions, time_calls=args.time_calls,
                         progress=not args.no_progress)
    result = run_protocol(paths, methods, options)
    written = write_results(result, args.out, args.time_calls)
    print(written["markdown"].read_text(encoding="utf-8"))
    print(f"wrote {args.out}/ ({', '.join(p.name for p in written.values())})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
