"""``infer.py``: enhance image files, folders or globs; ``--demo`` runs on bundled sample photos."""

from __future__ import annotations

import argparse
import glob
import sys
import warnings
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from lowlight.cli.errors import EXIT_INTERRUPTED, UsageError
from lowlight.cli.option_ranges import (
    BATCH_SIZE_RANGE,
    K_RANGE,
    MAX_PIXELS_RANGE,
    PATCH_RANGE,
    WORK_SIZE_RANGE,
    samples_per_gp,
)
from lowlight.cli.output_plan import plan_outputs
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig
from lowlight.io.atomic import remove_stale_temp_files
from lowlight.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    frame_count,
    is_image_file,
    list_images,
    read_image,
    write_png,
)
from lowlight.ops.resize import long_side_size
from lowlight.ops.strength import MAX_STRENGTH
from lowlight.video.cli import add_video_arguments, enhance_video_input, video_options
from lowlight.video.reader import is_video_file, list_videos
from lowlight.video.temporal import DEFAULT_STRENGTH

__all__ = ["InferOptions", "UsageError", "build_parser", "main", "run"]

#: the uncertainty PNG maps this posterior standard deviation (in [0, 1] intensity units) to white
STD_WHITE = 0.1


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
    overwrite: bool = False
    strength: float = 1.0
    temporal: float = DEFAULT_STRENGTH
    frame_batch: int = 8
    work_height: int = 0
    work_size: int = EnhancerConfig.work_size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infer.py",
        description="Enhance low-light photos with a reference CNN and a clustered Gaussian Process.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or globs")
    parser.add_argument("-o", "--output", type=Path, help="output folder (created if missing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (never an input); default: refuse, naming them")
    parser.add_argument("--demo", action="store_true",
                        help="darken bundled sample photos, enhance them, write a side-by-side PNG")
    parser.add_argument("--mode", choices=("cm", "lm"), default="cm",
                        help="cm: RGB CNN + GP on RGB patches (default); lm: luma CNN + GP on Y")
    parser.add_argument("--k", type=int, default=30,
                        help=f"cluster centres = GP training points, {K_RANGE.low}..{K_RANGE.high} (default 30)")
    parser.add_argument("--patch", type=int,
                        help=f"patch side p for p x p patches, {PATCH_RANGE.low}..{PATCH_RANGE.high} (default 3; an "
                             "end-to-end checkpoint fixes the size it was trained with)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=1,
                        help=f"same-size images enhanced together, {BATCH_SIZE_RANGE.low}..{BATCH_SIZE_RANGE.high} "
                             "(the result does not depend on it)")
    parser.add_argument("--uncertainty", action="store_true",
                        help=f"also write <stem>_std.png, the GP posterior std (white = {STD_WHITE})")
    parser.add_argument("--checkpoint", type=Path,
                        help="reference CNN (.safetensors; learned GP hyperparameters too when trained end to "
                             "end); default: the shipped checkpoints/e2e_<mode>.safetensors")
    parser.add_argument("--seed", type=int, default=0, help="seed of pixel sampling and k-means++")
    parser.add_argument("--noise-gate", action="store_true",
                        help="use the GP only on noisy photos (estimated noise sigma above "
                             f"{SUGGESTED_NOISE_GATE[0]}); clean ones get the CNN's output: sharper, ~4x faster")
    parser.add_argument("--strength", type=float, default=1.0,
                        help=f"enhancement strength: 0 = the input, 1 = default, up to {MAX_STRENGTH:g} brighter")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse larger images, checked before decoding, {MAX_PIXELS_RANGE.low}.."
                             f"{MAX_PIXELS_RANGE.high} (default {DEFAULT_MAX_PIXELS})")
    parser.add_argument("--work-size", type=int, default=EnhancerConfig.work_size, metavar="PIXELS",
                        help="working resolution (longer side): larger photos are analysed at this size and the "
                             f"GP predicts every full-size pixel; 0 = all at full resolution "
                             f"(default {EnhancerConfig.work_size})")
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


def check_output_folder(output: Path) -> None:
    """Raise :class:`UsageError` when ``output`` exists and is not a folder."""
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output}: exists and is not a folder")


def prepare_output_folder(output: Path) -> None:
    """Create ``output`` if needed and remove temporary files killed runs left there.

    Raises:
        UsageError: ``output`` is an existing file, or cannot be created.
    """
    check_output_folder(output)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"-o {output}: cannot create the folder ({err.strerror or err})") from err
    remove_stale_temp_files(output)


def load_enhancer(options: InferOptions, device: torch.device) -> Enhancer:
    """The enhancer the options ask for; a :class:`UsageError` for a patch size the checkpoint refuses."""
    gp = GPOptions(k=options.k, seed=options.seed)
    gp = gp if options.patch is None else replace(gp, patch=options.patch)
    config = EnhancerConfig(mode=options.mode, gp=gp, noise_gate=SUGGESTED_NOISE_GATE if options.noise_gate else None,
                            strength=options.strength, work_size=options.work_size)
    enhancer = Enhancer.from_checkpoint(config, options.checkpoint, device)
    if options.patch is not None and enhancer.config.gp.patch != options.patch:
        raise UsageError(
            f"--patch {options.patch}: the checkpoint was trained end to end with {enhancer.config.gp.patch} x "
            f"{enhancer.config.gp.patch} patches; for other sizes use a two-stage one, e.g. --checkpoint "
            "checkpoints/rgb_cnn.safetensors (cm) or checkpoints/y_cnn.safetensors (lm)"
        )
    return enhancer


def _error(line: str) -> None:
    tqdm.write(f"infer.py: error: {line}", file=sys.stderr)


def _note(line: str) -> None:
    tqdm.write(f"infer.py: note: {line}", file=sys.stderr)


def _warning(line: str) -> None:
    tqdm.write(f"infer.py: warning: {line}", file=sys.stderr)


def run(options: InferOptions) -> int:
    """Enhance every input; returns the exit status (0 all done, 1 some failed)."""
    device = resolve_device(options.device)
    video = video_options(options.temporal, options.frame_batch, options.work_height, options.max_pixels, device)
    check_output_folder(options.output)  # before the slow checkpoint load
    enhancer = load_enhancer(options, device)
    files, errors = expand_inputs(options.inputs)
    plan = plan_outputs(files, options.output, options.uncertainty, options.overwrite)
    prepare_output_folder(options.output)
    for line in errors + plan.errors:
        _error(line)
    for line in plan.notes:
        _note(line)
    gp_channels = 3 if enhancer.config.mode == "cm" and not enhancer.config.gp.per_channel else 1
    k_warned = False
    start = time.perf_counter()
    done, failed = 0, len(errors) + len(plan.errors)
    pending: dict[tuple[int, int], list[tuple[Path, torch.Tensor]]] = defaultdict(list)
    progress = tqdm(total=len(plan.targets), unit="img", desc="enhancing", file=sys.stderr)

    def flush(size: tuple[int, int]) -> None:
        nonlocal done, failed
        batch = pending.pop(size)
        try:
            with torch.inference_mode():
                result = enhancer(torch.stack([x for _, x in batch]).to(device), return_std=options.uncertainty)
        except (RuntimeError, ValueError) as err:  # e.g. out of memory on a huge image
            failed += len(batch)
            for path, _ in batch:
                _error(f"{path}: enhancement failed ({_one_line(err)})")
            progress.update(len(batch))
            return
        for i, (path, _) in enumerate(batch):  # each image's writes succeed or fail on their own
            images = [result.image[i]]
            if result.std is not None:
                images.append((result.std[i] / STD_WHITE).clamp(0, 1).expand(3, -1, -1))
            try:
                for image, target in zip(images, plan.targets[path], strict=True):
                    write_png(image, target)
                done += 1
            except (OSError, ValueError) as err:
                failed += 1
                _error(f"{path}: cannot write its output ({_one_line(err)})")
            progress.update(1)

    for path in plan.targets:
        if is_video_file(path):
            if enhance_video_input(enhancer, path, plan.targets[path][0], video):
                done += 1
            else:
                failed += 1
            progress.update(1)
            continue
        try:
            image = read_image(path, max_pixels=options.max_pixels)
        except ImageReadError as err:
            _error(str(err))
            failed += 1
            progress.update(1)
            continue
        frames = frame_count(path)
        if frames > 1:
            _note(f"{path}: {frames} frames; only the first is enhanced")
        size = (image.shape[1], image.shape[2])
        samples = samples_per_gp(*long_side_size(*size, options.work_size), gp_channels,
                                 enhancer.config.gp.cluster_points)
        if options.k > samples and not k_warned:
            k_warned = True
            _warning(f"--k {options.k} is more than the {samples} patch pairs of {path} ({size[1]} x {size[0]}); "
                     "such small images use k = their number of patch pairs")
        pending[size].append((path, image))
        if len(pending[size]) >= options.batch_size:
            flush(size)
    for size in list(pending):
        flush(size)
    progress.close()
    seconds = time.perf_counter() - start
    print(f"enhanced {done} image(s) in {seconds:.1f} s, {failed} failed -> {options.output}")
    return 1 if failed else 0


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (the first line of a multi-line one)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status. User mistakes print one line, no traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        return _main(args)


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Python warnings (e.g. k-means finding fewer distinct centres than k) as one line each."""
    _warning(_one_line(Exception(str(message))))


def _main(args: argparse.Namespace) -> int:
    try:
        K_RANGE.check(args.k)
        BATCH_SIZE_RANGE.check(args.batch_size)
        MAX_PIXELS_RANGE.check(args.max_pixels)
        if args.patch is not None:
            PATCH_RANGE.check(args.patch)
        WORK_SIZE_RANGE.check(args.work_size)
        if not 0 <= args.strength <= MAX_STRENGTH:
            raise UsageError(f"--strength {args.strength:g}: must be in 0..{MAX_STRENGTH:g}")
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
            overwrite=args.overwrite, strength=args.strength,
            temporal=args.temporal, frame_batch=args.frame_batch, work_height=args.work_height,
            work_size=args.work_size,
        )
        return run(options)
    except UsageError as err:
        print(f"infer.py: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as err:  # e.g. a checkpoint that is not one
        print(f"infer.py: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infer.py: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
