"""Real exposure brackets (SICE): group numbered frames into scenes, pick references, make pairs.

A bracket folder holds files ``1.jpg, 2.jpg, ...``: consecutive numbers are, as a rule, one
scene shot from a tripod at increasing exposure. The grouping is not given, so it is derived
from the pixels: two neighbouring frames belong to one scene when the Spearman (rank)
correlation of their luma thumbnails is at least :attr:`BracketOptions.same_scene` and the
second is not much darker than the first (:attr:`BracketOptions.max_drop`). A change of
exposure is, up to noise and clipping, a monotonic map of luma, which leaves ranks unchanged;
two different scenes share no ranking. Exposure rises within a scene, so the over-exposed last
frame of one scene followed by the nearly black first frame of the next is a boundary even when
their clipped and noisy thumbnails happen to correlate. Each scene's *reference* is its best-exposed frame (see
:func:`pick_reference`); every clearly darker frame of the scene gives a real training pair
(dark frame -> reference), with real sensor noise and camera processing.

A fixed part of the scenes (:attr:`BracketOptions.val_percent`, chosen by a hash of the scene's
first file name, so adding scenes never moves old ones) is held out as ``val_real``.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from scipy.stats import rankdata
from torch import Tensor

from lowlight.io.images import ImageReadError, list_images, read_image
from lowlight.ops.checks import check_single_image
from lowlight.ops.color import rgb_to_luma
from lowlight.ops.resize import resize_image

_NUMBER = re.compile(r"^(\d+)$")


@dataclass(frozen=True)
class BracketOptions:
    """How frames are grouped and paired.

    Attributes:
        thumbnail: side of the luma thumbnail the grouping compares.
        same_scene: neighbours whose thumbnail rank correlation is at least this are one scene...
        max_drop: ...unless the second's mean luma is below this times the first's.
        target_mean: the reference is the unclipped frame whose mean luma is closest to this.
        max_clipped: a frame with more than this fraction of pixels at >= 250/255 in any channel
            counts as clipped.
        dark_ratio: a frame is a training input when its mean luma is at most this times the
            reference's.
        val_percent: percent of the scenes held out as ``val_real``.
    """

    thumbnail: int = 64
    same_scene: float = 0.5
    max_drop: float = 0.6
    target_mean: float = 0.45
    max_clipped: float = 0.1
    dark_ratio: float = 0.6
    val_percent: int = 15

    def __post_init__(self) -> None:
        if self.thumbnail < 8:
            raise ValueError(f"thumbnail must be >= 8, got {self.thumbnail}")
        if not -1.0 < self.same_scene < 1.0:
            raise ValueError(f"same_scene must be in (-1, 1), got {self.same_scene}")
        if not 0.0 < self.max_drop <= 1.0:
            raise ValueError(f"max_drop must be in (0, 1], got {self.max_drop}")
        if not 0.0 < self.target_mean < 1.0:
            raise ValueError(f"target_mean must be in (0, 1), got {self.target_mean}")
        if not 0.0 <= self.max_clipped < 1.0:
            raise ValueError(f"max_clipped must be in [0, 1), got {self.max_clipped}")
        if not 0.0 < self.dark_ratio < 1.0:
            raise ValueError(f"dark_ratio must be in (0, 1), got {self.dark_ratio}")
        if not 0 <= self.val_percent < 100:
            raise ValueError(f"val_percent must be in [0, 100), got {self.val_percent}")


@dataclass(frozen=True)
class FrameStats:
    """What the grouping and the reference rule need of one frame.

    Attributes:
        path: the file.
        ranks: (thumbnail ** 2,) float64, the ranks of the luma thumbnail's pixels.
        mean_luma: mean luma in [0, 1].
        clipped: fraction of pixels with a channel at >= 250/255.
    """

    path: Path
    ranks: np.ndarray
    mean_luma: float
    clipped: float


@dataclass(frozen=True)
class BracketScene:
    """One scene: its frames in file order, the reference and the darker inputs.

    Attributes:
        frames: all frames, in increasing file number (exposure).
        reference: the well-exposed frame (the ground truth).
        inputs: the clearly darker frames, each paired with ``reference``.
    """

    frames: tuple[Path, ...]
    reference: Path
    inputs: tuple[Path, ...]

    @property
    def name(self) -> str:
        """The first frame's stem, which names the scene (e.g. ``"2"`` for 2.jpg ... 8.jpg)."""
        return self.frames[0].stem

    def is_validation(self, val_percent: int) -> bool:
        """Whether the scene is held out: a fixed hash of its name, stable as scenes are added."""
        return zlib.crc32(self.name.encode()) % 100 < val_percent


def numbered_frames(folder: Path) -> list[Path]:
    """The images of ``folder`` whose stem is a number, sorted by that number.

    Raises:
        FileNotFoundError: ``folder`` is not a directory.
        ValueError: it holds no numbered image.
    """
    folder = Path(folder)
    frames = [p for p in list_images(folder) if _NUMBER.match(p.stem)]
    if not frames:
        raise ValueError(f"no numbered images (1.jpg, 2.jpg, ...) in {folder}")
    return sorted(frames, key=lambda p: int(p.stem))


def frame_stats(image: Tensor, path: Path, thumbnail: int = 64) -> FrameStats:
    """Thumbnail ranks, mean luma and clipped fraction of one frame.

    Args:
        image: (3, H, W) float in [0, 1].
        path: the frame's file (carried along).
        thumbnail: side of the square luma thumbnail.
    """
    check_single_image(image, 3)
    luma = rgb_to_luma(image[None].double())  # (1, 1, H, W)
    thumb = F.interpolate(luma, size=(thumbnail, thumbnail), mode="area")  # (1, 1, t, t)
    clipped = (image >= 250 / 255).any(dim=0).double().mean()
    return FrameStats(
        path=Path(path),
        ranks=rankdata(thumb.flatten().numpy()),
        mean_luma=float(luma.mean()),
        clipped=float(clipped),
    )


def rank_correlation(a: FrameStats, b: FrameStats) -> float:
    """Spearman correlation of two frames' thumbnails, in [-1, 1] (0 when one is flat)."""
    ra, rb = a.ranks - a.ranks.mean(), b.ranks - b.ranks.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def same_scene(previous: FrameStats, frame: FrameStats, options: BracketOptions) -> bool:
    """Whether ``frame`` continues the scene of the frame just before it (see the module doc)."""
    brighter_enough = frame.mean_luma >= options.max_drop * previous.mean_luma
    return brighter_enough and rank_correlation(previous, frame) >= options.same_scene


def group_scenes(stats: Sequence[FrameStats], options: BracketOptions) -> list[list[FrameStats]]:
    """Split a sequence of frames into scenes: runs of neighbours for which :func:`same_scene`.

    Returns:
        The runs, in order; their concatenation is ``stats``.
    """
    scenes: list[list[FrameStats]] = []
    for frame in stats:
        if scenes and same_scene(scenes[-1][-1], frame, options):
            scenes[-1].append(frame)
        else:
            scenes.append([frame])
    return scenes


def pick_reference(scene: Sequence[FrameStats], options: BracketOptions) -> FrameStats:
    """The scene's ground truth: among frames clipped at most ``max_clipped``, the one whose mean
    luma is closest to ``target_mean``; when every frame is clipped, the least clipped one."""
    if not scene:
        raise ValueError("a scene needs at least one frame")
    unclipped = [f for f in scene if f.clipped <= options.max_clipped]
    if not unclipped:
        return min(scene, key=lambda f: f.clipped)
    return min(unclipped, key=lambda f: abs(f.mean_luma - options.target_mean))


def make_scene(frames: Sequence[FrameStats], options: BracketOptions) -> BracketScene:
    """A :class:`BracketScene` from its frames: reference and the clearly darker inputs."""
    reference = pick_reference(frames, options)
    inputs = tuple(
        f.path for f in frames
        if f is not reference and f.mean_luma <= options.dark_ratio * reference.mean_luma
    )
    return BracketScene(tuple(f.path for f in frames), reference.path, inputs)


def find_scenes(
    folder: Path, options: BracketOptions = BracketOptions(), progress: bool = False  # noqa: B008
) -> list[BracketScene]:
    """Group a bracket folder into scenes (reads every frame once).

    Unreadable files are skipped (a scene is split where one was). Scenes with no darker input
    are kept (their reference still serves as a bright photo).

    Args:
        folder: numbered frames, see :func:`numbered_frames`.
        options: grouping and pairing rules.
        progress: show a progress bar.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    def read(path: Path) -> FrameStats | None:
        try:
            return frame_stats(read_image(path), path, options.thumbnail)
        except ImageReadError:
            return None

    paths = numbered_frames(folder)
    with ThreadPoolExecutor(max_workers=4) as pool:  # decoding releases the GIL
        stats = list(tqdm(pool.map(read, paths), total=len(paths), desc="reading brackets",
                          unit="frame", disable=not progress))
    runs: list[list[FrameStats]] = [[]]
    for stat in stats:  # an unreadable frame ends a run
        if stat is None:
            runs.append([])
        else:
            runs[-1].append(stat)
    scenes: list[BracketScene] = []
    for run in runs:
        scenes.extend(make_scene(group, options) for group in group_scenes(run, options))
    return scenes


def split_scenes(
    scenes: Sequence[BracketScene], val_percent: int
) -> tuple[list[BracketScene], list[BracketScene]]:
    """(training scenes, held-out ``val_real`` scenes) by :meth:`BracketScene.is_validation`."""
    train = [s for s in scenes if not s.is_validation(val_percent)]
    val = [s for s in scenes if s.is_validation(val_percent)]
    return train, val


def scene_pairs(scenes: Sequence[BracketScene]) -> list[tuple[Path, Path]]:
    """All (dark input, reference) file pairs of the scenes, in order."""
    return [(dark, s.reference) for s in scenes for dark in s.inputs]


def bracket_summary(scenes: Sequence[BracketScene]) -> dict[str, float]:
    """Counts for a report: scenes, frames, frames per scene (min / median / max), pairs."""
    sizes = np.array([len(s.frames) for s in scenes]) if scenes else np.zeros(1)
    return {
        "scenes": len(scenes),
        "frames": int(sizes.sum()) if scenes else 0,
        "frames_min": int(sizes.min()),
        "frames_median": float(np.median(sizes)),
        "frames_max": int(sizes.max()),
        "pairs": len(scene_pairs(scenes)),
        "scenes_without_pairs": sum(1 for s in scenes if not s.inputs),
    }


def read_pair(dark: Path, reference: Path) -> tuple[Tensor, Tensor]:
    """A real pair as two (3, H, W) float tensors in [0, 1] of the same size.

    The reference is resized (bilinear, antialiased) to the dark frame's size when they differ.

    Raises:
        ImageReadError: either file is unreadable.
    """
    lq, gt = read_image(dark), read_image(reference)
    if lq.shape != gt.shape:
        gt = resize_image(gt[None], tuple(lq.shape[-2:]))[0]
    return lq, gt



def write_manifest(scenes: Sequence[BracketScene], path: Path) -> None:
    """Save scenes as JSON (file paths relative to the manifest's folder), atomically.

    A manifest saves re-reading every frame: :func:`load_scenes` accepts it in place of the
    folder.
    """
    import json

    from lowlight.io.atomic import atomic_path

    path = Path(path)
    base = path.parent.resolve()

    def rel(p: Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), base)).as_posix()

    payload = {"scenes": [
        {"frames": [rel(p) for p in s.frames], "reference": rel(s.reference),
         "inputs": [rel(p) for p in s.inputs]}
        for s in scenes
    ]}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1))


def load_scenes(
    source: Path, options: BracketOptions = BracketOptions(), progress: bool = False  # noqa: B008
) -> list[BracketScene]:
    """Scenes of a bracket folder (grouped now, see :func:`find_scenes`) or of a JSON manifest
    written by :func:`write_manifest` (``options`` then does not apply).

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: a manifest that is not valid JSON of the expected form.
    """
    import json

    source = Path(source)
    if source.is_dir():
        return find_scenes(source, options, progress)
    if not source.is_file():
        raise FileNotFoundError(f"bracket folder or manifest not found: {source}")
    try:
        payload = json.loads(source.read_text())
        base = source.parent
        return [
            BracketScene(
                tuple(base / p for p in s["frames"]), base / s["reference"],
                tuple(base / p for p in s["inputs"]),
            )
            for s in payload["scenes"]
        ]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"{source}: not a bracket manifest ({type(err).__name__}: {err})") from None
