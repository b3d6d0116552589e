"""Run methods over a protocol's images and versions and collect per-pair metrics.

Each ground truth G (1, 3, 256, 256) gives the protocol's dark versions plus the bright input;
every method enhances each of them one at a time (batch of one), PSNR and SSIM are computed over
the stacked outputs of one method on one image, SIFT per output (G's features computed once).
Timing runs after the metrics, on the first image's sheet version.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from lowlight.evaluation.images import load_ground_truth, load_native_truth, resize_longer_side
from lowlight.metrics.quality import TimeStats, measure_time, psnr_per_image, ssim_per_image
from lowlight.evaluation.methods import Method
from lowlight.protocols import (
    DarkVersion,
    ImageContext,
    ProtocolName,
    protocol_gammas,
    protocol_versions,
    spread_versions,
)
from lowlight.metrics.sift import SiftFeatures, image_features, sift_score
from lowlight.io.images import read_image

DARK_INPUT = "dark"
BRIGHT_INPUT = "bright"


@dataclass(frozen=True)
class RunOptions:
    """How a protocol run is done (the defaults are the protocol).

    Attributes:
        protocol: ``"a"`` or ``"b"``.
        versions: evaluate this many versions spread over the protocol's (``None``: all).
        time_calls: timed calls per method (after one warm-up); 0 skips timing.
        sheet_images: images (rows) on the contact sheet.
        progress: show a tqdm bar over images (on stderr).
        native_upscale: ``None``: the protocol's 256 x 256 ground truths; an integer n >= 1:
            each photo at its own resolution times n (the native-resolution mode), darkened
            there by the protocol's rules.
    """

    protocol: ProtocolName = "a"
    versions: int | None = None
    time_calls: int = 20
    sheet_images: int = 4
    progress: bool = True
    native_upscale: int | None = None

    def __post_init__(self) -> None:
        if self.native_upscale is not None and self.native_upscale < 1:
            raise ValueError(f"native_upscale must be >= 1 or None, got {self.native_upscale!r}")


@dataclass(frozen=True)
class PairResult:
    """Metrics of one enhanced image against its ground truth.

    Attributes:
        method: the method's row label.
        image: file name; image_index: its 0-based position in the sorted set.
        input: ``"dark"`` (a protocol version) or ``"bright"`` (gamma = 1).
        version: the protocol's version index (``None`` for the bright input).
        gamma: the darkening gamma (1.0 for the bright input).
        psnr: dB (``inf`` when E equals G); ssim; sift_precision, sift_recall, sift_f1.
    """

    method: str
    image: str
    image_index: int
    input: str
    version: int | None
    gamma: float
    psnr: float
    ssim: float
    sift_precision: float
    sift_recall: float
    sift_f1: float


@dataclass(frozen=True)
class MethodSummary:
    """Means over a method's pairs of one input kind (one table row).

    ``psnr`` is the mean over the pairs whose output differs from the ground truth (NaN if none
    does); ``identical`` counts the others (PSNR = inf: the method returned G exactly, which
    happens on the bright input for methods that leave a bright image alone).
    """

    method: str
    input: str
    pairs: int
    identical: int
    psnr: float
    ssim: float
    sift_precision: float
    sift_recall: float
    sift_f1: float
    time_ms: float | None


@dataclass
class ContactSheet:
    """Tiles for the contact sheet: rows = images, columns = inputs and methods.

    Attributes:
        column_labels: one per column.
        row_labels: one per row (image names).
        tiles: ``tiles[row][column]`` (3, H, W) float in [0, 1] on the CPU.
    """

    column_labels: list[str]
    row_labels: list[str] = field(default_factory=list)
    tiles: list[list[Tensor]] = field(default_factory=list)


@dataclass
class EvaluationResult:
    """Everything a protocol run measured."""

    protocol: str
    images: list[str]
    versions: list[int]
    gammas: list[float]
    methods: list[str]
    pairs: list[PairResult]
    times: dict[str, TimeStats]
    sheet: ContactSheet
    timed_size: tuple[int, int] = (256, 256)  #: (height, width) of the timed input
    native_upscale: int | None = None  #: see :class:`RunOptions`

    def summaries(self, input_kind: str = DARK_INPUT) -> list[MethodSummary]:
        """One row per method: means over its pairs of ``input_kind`` (``"dark"``/``"bright"``)."""
        rows = []
        for name in self.methods:
            pairs = [p for p in self.pairs if p.method == name and p.input == input_kind]
            if not pairs:
                continue
            timing = self.times.get(name)
            rows.append(
                MethodSummary(
                    method=name,
                    input=input_kind,
                    pairs=len(pairs),
                    identical=sum(p.psnr == math.inf for p in pairs),
                    psnr=_mean([p.psnr for p in pairs if math.isfinite(p.psnr)]),
                    ssim=_mean([p.ssim for p in pairs]),
                    sift_precision=_mean([p.sift_precision for p in pairs]),
                    sift_recall=_mean([p.sift_recall for p in pairs]),
                    sift_f1=_mean([p.sift_f1 for p in pairs]),
                    time_ms=None if timing is None else 1000.0 * timing.median_s,
                )
            )
        return rows

    @property
    def threads(self) -> int:
        """Torch threads used for the timings (the current count if nothing was timed)."""
        for timing in self.times.values():
            return timing.threads
        return torch.get_num_threads()


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def enhance(method: Method, version: DarkVersion) -> Tensor:
    """Apply ``method`` to one version.

    Returns:
        (1, 3, H, W) float32 in [0, 1] on the CPU.

    Raises:
        ValueError: the method returned another shape.
    """
    output = method(version.image, version.context)
    if output.shape != version.image.shape:
        raise ValueError(
            f"method {method.name!r} returned {tuple(output.shape)} for an input "
            f"{tuple(version.image.shape)}"
        )
    return output.detach().to(device="cpu", dtype=torch.float32).clamp(0.0, 1.0)


def score_outputs(
    method_name: str,
    outputs: Tensor,
    versions: list[DarkVersion],
    truth: Tensor,
    truth_features: SiftFeatures,
) -> list[PairResult]:
    """Metrics of a method's outputs for all versions of one image.

    Args:
        method_name: row label.
        outputs: (V, 3, H, W) float in [0, 1], one per entry of ``versions``.
        versions: the inputs that produced ``outputs``.
        truth: (1, 3, H, W) float in [0, 1].
        truth_features: SIFT features of ``truth`` (computed once per image).
    """
    truth_batch = truth.expand_as(outputs)  # (V, 3, H, W)
    psnr = psnr_per_image(outputs, truth_batch).tolist()
    ssim = ssim_per_image(outputs, truth_batch).tolist()
    rows = []
    for index, version in enumerate(versions):
        score = sift_score(image_features(outputs[index]), truth_features)
        context = version.context
        rows.append(
            PairResult(
                method=method_name,
                image=context.image_name,
                image_index=context.image_index,
                input=BRIGHT_INPUT if version.is_bright else DARK_INPUT,
                version=context.version,
                gamma=float(context.gamma if context.gamma is not None else math.nan),
                psnr=float(psnr[index]),
                ssim=float(ssim[index]),
                sift_precision=score.precision,
                sift_recall=score.recall,
                sift_f1=score.f1,
            )
        )
    return rows


def time_method(method: Method, version: DarkVersion, calls: int) -> TimeStats:
    """Median wall-clock of ``method`` on one version (one warm-up call first)."""

    def call() -> None:
        output = method(version.image, version.context)
        if output.is_cuda:
            torch.cuda.synchronize(output.device)

    return measure_time(call, calls)


def run_protocol(
    paths: list[Path], methods: list[Method], options: RunOptions = RunOptions()
) -> EvaluationResult:
    """Evaluate ``methods`` under a protocol on the images ``paths`` (sorted, index = position).

    Args:
        paths: ground-truth image files in the evaluated order.
        methods: the rows.
        options: protocol, version subset, timing, contact sheet.

    Returns:
        Per-pair metrics, timings and the contact sheet's tiles.
    """
    if not paths:
        raise ValueError("no images to evaluate")
    if not methods:
        raise ValueError("no methods to evaluate")
    indices = spread_versions(options.protocol, options.versions)
    gammas = protocol_gammas(options.protocol)
    sheet_version = indices[len(indices) // 2]
    sheet = ContactSheet(
        [f"dark (gamma {gammas[sheet_version]:.2f})", *(m.name for m in methods), "ground truth"]
    )
    pairs: list[PairResult] = []
    timing_input: DarkVersion | None = None
    bar = tqdm(paths, desc=f"protocol {options.protocol.upper()}", unit="image",
               disable=not options.progress)
    for image_index, path in enumerate(bar):
        if options.native_upscale is None:
            truth = load_ground_truth(path)  # (1, 3, 256, 256)
        else:
            truth = load_native_truth(path, options.native_upscale)  # (1, 3, H n, W n)
        truth_features = image_features(truth)
        versions = protocol_versions(options.protocol, truth, image_index, path.name, indices)
        sheet_position = [v.context.version for v in versions].index(sheet_version)
        sheet_input = versions[sheet_position]
        if timing_input is None:
            timing_input = sheet_input
        sheet_row = [sheet_input.image[0]]
        for method in methods:
            outputs = torch.cat([enhance(method, version) for version in versions])  # (V, 3, H, W)
            pairs.extend(score_outputs(method.name, outputs, versions, truth, truth_features))
            sheet_row.append(outputs[sheet_position])
        if image_index < options.sheet_images:
            sheet.row_labels.append(path.name)
            sheet.tiles.append([*sheet_row, truth[0]])
    times = {}
    if options.time_calls > 0 and timing_input is not None:
        times = {m.name: time_method(m, timing_input, options.time_calls) for m in methods}
    return EvaluationResult(
        protocol=options.protocol,
        images=[p.name for p in paths],
        versions=indices,
        gammas=[float(gammas[i]) for i in indices],
        methods=[m.name for m in methods],
        pairs=pairs,
        times=times,
        sheet=sheet,
        timed_size=(256, 256) if timing_input is None else tuple(timing_input.image.shape[-2:]),
        native_upscale=options.native_upscale,
    )


def run_without_reference(
    paths: list[Path], methods: list[Method], longer_side: int = 512, progress: bool = True
) -> ContactSheet:
    """Enhance real dark photos (no ground truth): tiles for the contact sheet only.

    Each image is resized so that its longer side is ``longer_side`` (aspect kept). Methods that
    need the true darkening (``needs_truth``) must be left out by the caller.
    """
    with_truth = [m.name for m in methods if m.needs_truth]
    if with_truth:
        raise ValueError(f"methods {with_truth} need ground truth; real photos have none")
    sheet = ContactSheet(["input", *(m.name for m in methods)])
    for image_index, path in enumerate(
        tqdm(paths, desc="no reference", unit="image", disable=not progress)
    ):
        image = resize_longer_side(read_image(path)[None], longer_side)  # (1, 3, H', W')
        version = DarkVersion(image, ImageContext("none", image_index, path.name))
        sheet.row_labels.append(path.name)
        sheet.tiles.append([image[0], *(enhance(m, version)[0] for m in methods)])
    return sheet
