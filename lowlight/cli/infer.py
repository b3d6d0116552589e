"""``infer.py``: enhance image files, folders, globs or a manifest, on one process or many (GPUs,
machines) through Lightning; ``--demo`` runs on bundled sample photos."""

from __future__ import annotations

import argparse
import glob
import os
import sys
import warnings
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from lowlight.bulk.items import (
    STD_WHITE,
    ImageBatch,
    ReadFailure,
    VideoItem,
    enhance_batch,
    work_items,
    write_outputs,
)
from lowlight.bulk.plan import Noted, Planned, PlanEvent, Refused, Skipped, read_plan_share, write_plan_file
from lowlight.bulk.report import Report, one_line
from lowlight.bulk.run import BulkOptions, BulkTotals, enhance_with_lightning
from lowlight.cli.errors import EXIT_INTERRUPTED, UsageError
from lowlight.cli.option_ranges import (
    BATCH_SIZE_RANGE,
    DEVICES_RANGE,
    K_RANGE,
    MAX_PIXELS_RANGE,
    NUM_NODES_RANGE,
    PATCH_RANGE,
    WORK_SIZE_RANGE,
    samples_per_gp,
)
from lowlight.cli.output_plan import plan_outputs, plan_stream, read_manifest
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import GP_RESOLUTIONS, SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig, GPResolution
from lowlight.io.atomic import remove_stale_temp_files
from lowlight.io.images import (
    DEFAULT_MAX_PIXELS,
    is_image_file,
    list_images,
)
from lowlight.ops.resize import long_side_size
from lowlight.ops.strength import MAX_STRENGTH
from lowlight.video.cli import add_video_arguments, enhance_video_input, video_options
from lowlight.video.enhance_file import DEFAULT_VIDEO_WORK_SIZE, VideoJobOptions
from lowlight.video.reader import is_video_file, list_videos
from lowlight.video.temporal import DEFAULT_STRENGTH

__all__ = ["STD_WHITE", "InferOptions", "UsageError", "build_parser", "main", "run"]

#: ``--accelerator`` values: Lightning's names
ACCELERATORS = ("cpu", "gpu")
REPORT = Report("infer.py")


@dataclass
class InferOptions:
    """Parsed options of ``infer.py``.

    ``accelerator``, ``devices`` and ``num_nodes`` are Lightning's: ``devices * num_nodes``
    processes (one per GPU with ``accelerator="gpu"``); one process (the default) enhances in
    this process, several through ``Trainer.predict`` (:mod:`lowlight.bulk`). ``device_index``
    picks the GPU of a one-process run (the deprecated ``--device cuda:N``). ``manifest``: a file
    listing one input per line, read as it goes, instead of ``inputs``. ``strategy``: Lightning's,
    for several processes (default ``"ddp"``; ``"ddp_fork"`` from a notebook or a test).
    """

    inputs: list[str]
    output: Path
    mode: str = "cm"
    k: int = 30
    patch: int | None = None
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    device_index: int | None = None
    manifest: Path | None = None
    skip_existing: bool = False
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
    work_size: int | None = None  #: None: EnhancerConfig.work_size for photos, DEFAULT_VIDEO_WORK_SIZE for videos
    gp_resolution: GPResolution = EnhancerConfig.gp_resolution
    strategy: str | None = None


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
    parser.add_argument("--accelerator", default=None, metavar="{cpu,gpu}",
                        help="where to enhance: cpu (default) or gpu (CUDA)")
    parser.add_argument("--devices", type=int, default=1,
                        help=f"processes per machine, {DEVICES_RANGE.low}..{DEVICES_RANGE.high}: CPU processes, or "
                             "GPUs (one process each); more than one runs through Lightning's Trainer.predict "
                             "(default 1: this process)")
    parser.add_argument("--num-nodes", type=int, default=1,
                        help="machines of a multi-node job started by torchrun or SLURM (default 1)")
    parser.add_argument("--manifest", type=Path, metavar="FILE",
                        help="read the inputs from FILE, one path per line, as it goes (for millions of files), "
                             "instead of INPUT...")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip inputs whose outputs all exist (resumes an interrupted job: outputs are "
                             "written whole or not at all)")
    parser.add_argument("--device", default=None, help=argparse.SUPPRESS)  # deprecated: --accelerator
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
    parser.add_argument("--work-size", type=int, default=None, metavar="PIXELS",
                        help="working resolution (longer side): larger photos and video frames are analysed at "
                             "this size (see --gp-resolution); 0 = all at full resolution "
                             f"(default {EnhancerConfig.work_size} for photos, {DEFAULT_VIDEO_WORK_SIZE} for video "
                             "frames)")
    parser.add_argument("--gp-resolution", choices=GP_RESOLUTIONS, default=EnhancerConfig.gp_resolution,
                        help="for photos larger than --work-size: working = the GP predicts the working copy, whose "
                             "output is upsampled guided by the photo; full = it predicts every full-size pixel "
                             "(2-4x slower at 2-8 MP, better on noisy photos; README, size sweep) "
                             f"(default {EnhancerConfig.gp_resolution})")
    add_video_arguments(parser)
    return parser


def resolve_device(name: str) -> torch.device:
    """A torch device from the deprecated ``--device`` string, or a :class:`UsageError` naming it."""
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UsageError(f"--device: unknown device {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: expected cpu or cuda, got {name!r}")
    return device


def check_accelerator(accelerator: str, devices: int = 1) -> None:
    """Raise :class:`UsageError` for an accelerator that is not ``cpu``/``gpu``, or GPUs this
    machine does not have."""
    if accelerator not in ACCELERATORS:
        raise UsageError(f"--accelerator {accelerator}: expected cpu or gpu")
    if accelerator == "gpu":
        if not torch.cuda.is_available():
            raise UsageError("--accelerator gpu: CUDA is not available on this machine")
        if devices > torch.cuda.device_count():
            raise UsageError(f"--devices {devices}: this machine has {torch.cuda.device_count()} GPU(s)")


def run_device(options: InferOptions) -> torch.device:
    """The torch device of a one-process run: ``cpu``, or ``cuda[:device_index]``."""
    check_accelerator(options.accelerator)
    if options.accelerator == "cpu":
        return torch.device("cpu")
    return torch.device("cuda", options.device_index or 0)


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


def photo_work_size(options: InferOptions) -> int:
    """``--work-size`` when given, else the photos' default (:attr:`EnhancerConfig.work_size`)."""
    return EnhancerConfig.work_size if options.work_size is None else options.work_size


def load_enhancer(options: InferOptions, device: torch.device) -> Enhancer:
    """The enhancer the options ask for; a :class:`UsageError` for a patch size the checkpoint refuses."""
    gp = GPOptions(k=options.k, seed=options.seed)
    gp = gp if options.patch is None else replace(gp, patch=options.patch)
    config = EnhancerConfig(mode=options.mode, gp=gp, noise_gate=SUGGESTED_NOISE_GATE if options.noise_gate else None,
                            strength=options.strength, work_size=photo_work_size(options),
                            gp_resolution=options.gp_resolution)
    enhancer = Enhancer.from_checkpoint(config, options.checkpoint, device)
    if options.patch is not None and enhancer.config.gp.patch != options.patch:
        raise UsageError(
            f"--patch {options.patch}: the checkpoint was trained end to end with {enhancer.config.gp.patch} x "
            f"{enhancer.config.gp.patch} patches; for other sizes use a two-stage one, e.g. --checkpoint "
            "checkpoints/rgb_cnn.safetensors (cm) or checkpoints/y_cnn.safetensors (lm)"
        )
    return enhancer


def _error(line: str) -> None:
    REPORT.error(line)


def _note(line: str) -> None:
    REPORT.note(line)


def _warning(line: str) -> None:
    REPORT.warning(line)


def plan_events(options: InferOptions) -> Iterator[PlanEvent]:
    """What happens to each input, as :mod:`lowlight.bulk.plan` events in input order.

    ``INPUT...`` are expanded (folders, globs) and planned in memory (:func:`plan_outputs`);
    a ``--manifest`` is read and planned as it goes (:func:`plan_stream`).
    """
    if options.manifest is not None:
        manifest = options.manifest
        yield from plan_stream(lambda: read_manifest(manifest), options.output, options.uncertainty,
                               options.overwrite, options.skip_existing)
        return
    files, errors = expand_inputs(options.inputs)
    plan = plan_outputs(files, options.output, options.uncertainty, options.overwrite, options.skip_existing)
    yield from (Refused(line) for line in errors)
    yield from plan.events()


def _k_warning(options: InferOptions, enhancer: Enhancer) -> Callable[[Path, tuple[int, int]], None]:
    """A ``check_size`` callback: warn once when ``--k`` exceeds an image's patch pairs."""
    gp_channels = 3 if enhancer.config.mode == "cm" and not enhancer.config.gp.per_channel else 1
    warned = False

    def check(path: Path, size: tuple[int, int]) -> None:
        nonlocal warned
        samples = samples_per_gp(*long_side_size(*size, photo_work_size(options)), gp_channels,
                                 enhancer.config.gp.cluster_points)
        if options.k > samples and not warned:
            warned = True
            _warning(f"--k {options.k} is more than the {samples} patch pairs of {path} ({size[1]} x {size[0]}); "
                     "such small images use k = their number of patch pairs")

    return check


def summary_line(totals: BulkTotals, output: Path) -> str:
    """The last line of a run: images, failures, skipped inputs, seconds, images per second."""
    skipped = f", {totals.skipped} skipped (outputs exist)" if totals.skipped else ""
    return (f"enhanced {totals.images} image(s) in {totals.seconds:.1f} s ({totals.images_per_second:.2f} images/s), "
            f"{totals.failed} failed{skipped} -> {output}")


def run(options: InferOptions) -> int:
    """Enhance every input; returns the exit status (0 all done, 1 some failed).

    One process (``devices * num_nodes == 1``) enhances here; more go through
    :func:`run_distributed`.
    """
    if options.devices * options.num_nodes > 1:
        return run_distributed(options)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1:
        raise UsageError(f"this is one of {launched} processes (WORLD_SIZE={launched}, e.g. from torchrun or srun) "
                         "but --devices 1 --num-nodes 1: give --devices and --num-nodes to match, or every "
                         "process would enhance every input")
    device = run_device(options)
    video = video_options(options.temporal, options.frame_batch, options.work_height, options.max_pixels, device,
                          options.work_size)
    check_output_folder(options.output)  # before the slow checkpoint load
    if options.manifest is not None:
        check_manifest(options.manifest)
    enhancer = load_enhancer(options, device)
    if options.manifest is None:  # the whole plan in memory, its lines first (errors, then notes)
        events = list(plan_events(options))
        prepare_output_folder(options.output)
        for event in events:
            if isinstance(event, Refused):
                _error(event.line)
            elif isinstance(event, Noted):
                _note(event.line)
        entries = [event for event in events if isinstance(event, Planned)]
        failed = sum(isinstance(event, Refused) for event in events)
        skipped = sum(isinstance(event, Skipped) for event in events)
        return _enhance_here(options, enhancer, device, video, entries, len(entries), failed, skipped)
    prepare_output_folder(options.output)  # a manifest: planned into a plan file as it is read, then read back
    plan_file = write_plan_file(plan_events(options), options.output, REPORT)
    try:
        return _enhance_here(options, enhancer, device, video, read_plan_share(plan_file.path), plan_file.planned,
                             plan_file.refused, plan_file.skipped)
    finally:
        plan_file.path.unlink(missing_ok=True)


def _enhance_here(options: InferOptions, enhancer: Enhancer, device: torch.device, video: VideoJobOptions,
                  entries: list[Planned] | Iterator[Planned], total: int, failed: int, skipped: int) -> int:
    """The one-process loop: read, batch, enhance, write, in this process."""
    start = time.perf_counter()
    done = 0
    progress = tqdm(total=total, unit="img", desc="enhancing", file=sys.stderr)
    items = work_items(entries, options.batch_size, options.max_pixels, REPORT, _k_warning(options, enhancer))
    for item in items:
        if isinstance(item, VideoItem):
            if enhance_video_input(enhancer, item.path, item.target, video):
                done += 1
            else:
                failed += 1
            progress.update(1)
        elif isinstance(item, ReadFailure):
            _error(item.message)
            failed += 1
            progress.update(1)
        else:
            assert isinstance(item, ImageBatch)
            written, lost = write_outputs(enhance_batch(enhancer, item, options.uncertainty, device), REPORT)
            done += written
            failed += lost
            progress.update(written + lost)
    progress.close()
    totals = BulkTotals(done, failed, skipped, time.perf_counter() - start, report_here=True)
    print(summary_line(totals, options.output))
    return 1 if failed else 0


def check_manifest(manifest: Path) -> None:
    """Raise :class:`UsageError` when ``manifest`` cannot be read."""
    try:
        with open(manifest, "rb"):
            pass
    except OSError as err:
        raise UsageError(f"--manifest {manifest}: cannot read it ({err.strerror or err})") from err


def run_distributed(options: InferOptions) -> int:
    """Enhance through Lightning's ``Trainer.predict`` on ``devices * num_nodes`` processes.

    Lightning starts the other ranks by running this same command again (``--devices N`` on
    one machine), unless torchrun or SLURM started them all. Global rank 0 plans and prints the
    plan's error lines, each rank enhances its share and prints its own inputs' error lines, and
    rank 0 prints the summary of all ranks.
    """
    if options.device_index:
        raise UsageError(f"--device cuda:{options.device_index} picks one GPU: with several processes each rank "
                         "uses its own (cuda:<local rank>); give --accelerator gpu")
    check_accelerator(options.accelerator, options.devices)
    cpu = torch.device("cpu")
    video = video_options(options.temporal, options.frame_batch, options.work_height, options.max_pixels, cpu,
                          options.work_size)
    if options.manifest is not None:
        check_manifest(options.manifest)
    check_output_folder(options.output)
    enhancer = load_enhancer(options, cpu)  # Lightning moves it to each rank's device
    try:
        options.output.mkdir(parents=True, exist_ok=True)  # every rank, before any waits for another
    except OSError as err:
        raise UsageError(f"-o {options.output}: cannot create the folder ({err.strerror or err})") from err

    def enhance_video(enhancer: Enhancer, source: Path, target: Path, device: torch.device) -> bool:
        return enhance_video_input(enhancer, source, target, replace(video, device=device))

    bulk = BulkOptions(
        accelerator=options.accelerator,  # type: ignore[arg-type]
        devices=options.devices, num_nodes=options.num_nodes, strategy=options.strategy,
        batch_size=options.batch_size, max_pixels=options.max_pixels, uncertainty=options.uncertainty,
    )
    totals = enhance_with_lightning(enhancer, lambda: plan_events(options), options.output, bulk, REPORT,
                                    _k_warning(options, enhancer), enhance_video)
    if totals.report_here:
        print(summary_line(totals, options.output))
    return 1 if totals.failed else 0


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
    _warning(one_line(Exception(str(message))))


def _where(args: argparse.Namespace) -> tuple[str, int | None]:
    """``(accelerator, GPU index)`` from ``--accelerator``, or from the deprecated ``--device``
    (with a warning line once it is known to be valid)."""
    if args.device is None:
        return args.accelerator or "cpu", None
    if args.accelerator is not None:
        raise UsageError("--device is the deprecated name of --accelerator: give only --accelerator")
    device = resolve_device(args.device)
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    hint = " (with CUDA_VISIBLE_DEVICES to pick GPUs)" if device.index is not None else ""
    _warning(f"--device is deprecated and will be removed; use --accelerator {accelerator}{hint}")
    return accelerator, device.index


def _main(args: argparse.Namespace) -> int:
    try:
        K_RANGE.check(args.k)
        BATCH_SIZE_RANGE.check(args.batch_size)
        MAX_PIXELS_RANGE.check(args.max_pixels)
        DEVICES_RANGE.check(args.devices)
        NUM_NODES_RANGE.check(args.num_nodes)
        if args.patch is not None:
            PATCH_RANGE.check(args.patch)
        if args.work_size is not None:
            WORK_SIZE_RANGE.check(args.work_size)
        if not 0 <= args.strength <= MAX_STRENGTH:
            raise UsageError(f"--strength {args.strength:g}: must be in 0..{MAX_STRENGTH:g}")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise UsageError(f"--checkpoint: no such file: {args.checkpoint}")
        accelerator, device_index = _where(args)
        if args.demo:
            from lowlight.cli.demo import run_demo

            if args.devices * args.num_nodes > 1:
                raise UsageError("--demo runs in one process: drop --devices/--num-nodes")
            check_accelerator(accelerator)
            device = torch.device("cpu") if accelerator == "cpu" else torch.device("cuda", device_index or 0)
            return run_demo(args.output or Path("outputs/demo"), args.mode, args.k, device, args.checkpoint)
        if args.manifest is not None and args.inputs:
            raise UsageError("give INPUT... or --manifest FILE, not both")
        if not args.inputs and args.manifest is None:
            raise UsageError("give at least one INPUT (file, folder or glob), --manifest FILE, or --demo")
        if args.output is None:
            raise UsageError("-o/--output OUTDIR is required")
        if args.overwrite and args.skip_existing:
            raise UsageError("--overwrite and --skip-existing contradict each other: give one")
        options = InferOptions(
            inputs=args.inputs, output=args.output, mode=args.mode, k=args.k, patch=args.patch,
            accelerator=accelerator, devices=args.devices, num_nodes=args.num_nodes, device_index=device_index,
            manifest=args.manifest, skip_existing=args.skip_existing,
            batch_size=args.batch_size, uncertainty=args.uncertainty,
            checkpoint=args.checkpoint, seed=args.seed, max_pixels=args.max_pixels, noise_gate=args.noise_gate,
            overwrite=args.overwrite, strength=args.strength,
            temporal=args.temporal, frame_batch=args.frame_batch, work_height=args.work_height,
            work_size=args.work_size, gp_resolution=args.gp_resolution,
        )
        return run(options)
    except UsageError as err:
        print(f"infer.py: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as err:  # e.g. a checkpoint that is not one
        print(f"infer.py: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infer.py: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
