"""``infer.py``: enhance image files, folders or globs; ``--demo`` runs on bundled sample photos."""

from __future__ import annotations

import argparse
import glob
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from lowlight.enhancer import SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig
from lowlight.imageio import DEFAULT_MAX_PIXELS, ImageReadError, is_image_file, list_images, read_image, write_png
from lowlight.pipeline import GPOptions
from lowlight.video.cli import add_video_arguments, enhance_video_input, video_options
from lowlight.video.reader import is_video_file, list_videos
from lowlight.video.temporal import DEFAULT_STRENGTH

#: the uncertainty PNG maps this posterior standard deviation (in [0, 1] intensity units) to white
STD_WHITE = 0.1


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""


@dataclass
class InferOptions:
    """Parsed options of ``infer.py``."""

    inputs: list[str]
    output: Path
    mode: str = "cm"
    k: int = 30
    patch: int | None = None
    device: str = "cpu"
    batch_size: int = 1
    uncertainty: bool = False
    checkpoint: Path | None = None
    seed: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    noise_gate: bool = False
    temporal: float = DEFAULT_STRENGTH
    frame_batch: int = 8
    work_height: int = 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infer.py",
        description="Enhance low-light photos with a reference CNN and a clustered Gaussian Process.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or globs")
    parser.add_argument("-o", "--output", type=Path, help="output folder (created if missing)")
    parser.add_argument("--demo", action="store_true",
                        help="darken bundled sample photos, enhance them, write a side-by-side PNG")
    parser.add_argument("--mode", choices=("cm", "lm"), default="cm",
                        help="cm: RGB CNN + GP on RGB patches (default); lm: luma CNN + GP on Y")
    parser.add_argument("--k", type=int, default=30, help="cluster centres = GP training points (default 30)")
    parser.add_argument("--patch", type=int,
                        help="patch side p for p x p patches (default 3; an end-to-end checkpoint fixes the size "
                             "it was trained with)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=1, help="same-size images enhanced together")
    parser.add_argument("--uncertainty", action="store_true",
                        help=f"also write <stem>_std.png, the GP posterior std (white = {STD_WHITE})")
    parser.add_argument("--checkpoint", type=Path,
                        help="reference CNN (.safetensors; learned GP hyperparameters too when trained end to "
                             "end); default: the shipped checkpoints/e2e_<mode>.safetensors")
    parser.add_argument("--seed", type=int, default=0, help="seed of pixel sampling and k-means++")
    parser.add_argument("--noise-gate", action="store_true",
                        help="use the GP only on noisy photos (estimated noise sigma above "
                             f"{SUGGESTED_NOISE_GATE[0]}); clean ones get the CNN's output: sharper, ~4x faster")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse larger images (default {DEFAULT_MAX_PIXELS})")
    add_video_arguments(parser)
    return parser


def resolve_device(name: str) -> torch.device:
    """A torch device from the user's string, or a :class:`UsageError` naming it."""
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UsageError(f"--device: unknown device {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: expected cpu or cuda, got {name!r}")
    return device


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files from files, folders (their images and videos) and globs; plus one error line per bad input."""
    files: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(list_images(path) + list_videos(path))
            if not found:
                errors.append(f"{path}: folder holds no images or videos")
            files.extend(found)
        elif path.exists():
            files.append(path)
        elif glob.has_magic(item):
            matched = sorted(Path(m) for m in glob.glob(item))
            images = [m for m in matched if is_image_file(m) or is_video_file(m)]
            if not images:
                errors.append(f"{item}: pattern matches no images or videos")
            files.extend(images)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def plan_outputs(files: list[Path], outdir: Path) -> tuple[dict[Path, Path], list[str]]:
    """Map each input to ``outdir/<stem>.png`` (a video to ``<stem>.mp4``); refuse overwriting an input or a name twice."""
    targets: dict[Path, Path] = {}
    errors: list[str] = []
    taken: dict[Path, Path] = {}
    inputs = {f.resolve() for f in files}
    for f in files:
        target = outdir / f"{f.stem}{'.mp4' if is_video_file(f) else '.png'}"
        resolved = target.resolve()
        if resolved in inputs:
            errors.append(f"{f}: output {target} would overwrite an input; choose another -o folder")
        elif resolved in taken:
            errors.append(f"{f}: output {target} already taken by {taken[resolved]}")
        else:
            taken[resolved] = f
            targets[f] = target
    return targets, errors


def run(options: InferOptions) -> int:
    """Enhance every input; returns the exit status (0 all done, 1 some failed)."""
    device = resolve_device(options.device)
    video = video_options(options.temporal, options.frame_batch, options.work_height, options.max_pixels, device)
    gp = GPOptions(k=options.k, seed=options.seed)
    gp = gp if options.patch is None else replace(gp, patch=options.patch)
    config = EnhancerConfig(mode=options.mode, gp=gp, noise_gate=SUGGESTED_NOISE_GATE if options.noise_gate else None)
    enhancer = Enhancer.from_checkpoint(config, options.checkpoint, device)
    if options.patch is not None and enhancer.config.gp.patch != options.patch:
        raise UsageError(
            f"--patch {options.patch}: the checkpoint was trained end to end with {enhancer.config.gp.patch} x "
            f"{enhancer.config.gp.patch} patches; for other sizes use a two-stage one, e.g. --checkpoint "
            "checkpoints/rgb_cnn.safetensors (cm) or checkpoints/y_cnn.safetensors (lm)"
        )
    files, errors = expand_inputs(options.inputs)
    options.output.mkdir(parents=True, exist_ok=True)
    targets, plan_errors = plan_outputs(files, options.output)
    errors += plan_errors
    for line in errors:
        print(f"infer.py: error: {line}", file=sys.stderr)
    start = time.perf_counter()
    done, failed = 0, len(errors)
    pending: dict[tuple[int, int], list[tuple[Path, torch.Tensor]]] = defaultdict(list)
    progress = tqdm(total=len(targets), unit="img", desc="enhancing", file=sys.stderr)

    def flush(size: tuple[int, int]) -> None:
        nonlocal done, failed
        batch = pending.pop(size)
        try:
            with torch.inference_mode():
                result = enhancer(torch.stack([x for _, x in batch]).to(device), return_std=options.uncertainty)
            for i, (path, _) in enumerate(batch):
                write_png(result.image[i], targets[path])
                if result.std is not None:
                    std_rgb = (result.std[i] / STD_WHITE).clamp(0, 1).expand(3, -1, -1)
                    write_png(std_rgb, options.output / f"{path.stem}_std.png")
            done += len(batch)
        except (RuntimeError, ValueError, OSError) as err:  # e.g. out of memory on a huge image
            failed += len(batch)
            for path, _ in batch:
                tqdm.write(f"infer.py: error: {path}: enhancement failed ({err})", file=sys.stderr)
        progress.update(len(batch))

    for path in targets:
        if is_video_file(path):
            if enhance_video_input(enhancer, path, targets[path], video):
                done += 1
            else:
                failed += 1
            progress.update(1)
            continue
        try:
            image = read_image(path, max_pixels=options.max_pixels)
        except ImageReadError as err:
            tqdm.write(f"infer.py: error: {err}", file=sys.stderr)
            failed += 1
            progress.update(1)
            continue
        size = (image.shape[1], image.shape[2])
        pending[size].append((path, image))
        if len(pending[size]) >= options.batch_size:
            flush(size)
    for size in list(pending):
        flush(size)
    progress.close()
    seconds = time.perf_counter() - start
    print(f"enhanced {done} image(s) in {seconds:.1f} s, {failed} failed -> {options.output}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status. User mistakes print one line, no traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.k < 1 or (args.patch is not None and args.patch < 1) or args.batch_size < 1:
            raise UsageError(f"--k, --patch and --batch-size must be >= 1, got {args.k}, {args.patch}, {args.batch_size}")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise UsageError(f"--checkpoint: no such file: {args.checkpoint}")
        if args.demo:
            from lowlight.cli.demo import run_demo

            return run_demo(args.output or Path("outputs/demo"), args.mode, args.k, resolve_device(args.device),
                            args.checkpoint)
        if not args.inputs:
            raise UsageError("give at least one INPUT (file, folder or glob), or --demo")
        if args.output is None:
            raise UsageError("-o/--output OUTDIR is required")
        options = InferOptions(
            inputs=args.inputs, output=args.output, mode=args.mode, k=args.k, patch=args.patch,
            device=args.device, batch_size=args.batch_size, uncertainty=args.uncertainty,
            checkpoint=args.checkpoint, seed=args.seed, max_pixels=args.max_pixels, noise_gate=args.noise_gate,
            temporal=args.temporal, frame_batch=args.frame_batch, work_height=args.work_height,
        )
        return run(options)
    except UsageError as err:
        print(f"infer.py: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as err:  # e.g. a checkpoint that is not one
        print(f"infer.py: error: {err}", file=sys.stderr)
        return 2
