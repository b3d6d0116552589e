"""Benchmark rows: :func:`lowlight.cluster.kmeans.kmeans` against scikit-learn's ``KMeans``.

The data are the paper's points (III.B) built from a bundled scikit-image photo: 3 x 3 patches of
a darkened copy (``x ** gamma``) and of the photo itself, concatenated per pixel, so d = 18 for
luma and d = 54 for RGB. (The enhancer's GP clusters d = 18 points in both modes: one channel's
patch pair per sampled (channel, pixel), ``GPOptions.inputs="pair"``, ``patch=3``.)

Two settings, each against scikit-learn's ``KMeans(init="k-means++", n_init=1)`` in its faster
algorithm (``"lloyd"`` or ``"elkan"``, both timed, the faster median reported; they give the same
clustering) with the same ``tol``, iteration cap and float32 points:

- all n points, up to ``max_iter`` (300) Lloyd iterations;
- the pipeline's setting: the number of points the enhancer samples for clustering
  (``GPOptions().cluster_points``) drawn without replacement, and its iteration cap
  (``GPOptions().kmeans_max_iter``), read from :class:`lowlight.enhance.clustered_gp.GPOptions`.
  Both libraries get the same sample; the draw is outside the timer (as all data preparation).

Round r (0 is the warm-up of every side, 1..repeats are timed) uses seed ``seed + r`` for the
seeding of both libraries and for the sample. Times are medians; inertias are computed afterwards
on all n points from each run's centres (:func:`lowlight.cluster.kmeans.assign`) and averaged
over the timed rounds, so the inertia ratios compare the algorithms rather than two seedings.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.bench.table import markdown_table
from lowlight.bench.timing import Timings, fastest, interleaved_times
from lowlight.cluster.kmeans import assign, kmeans
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.ops.color import rgb_to_luma
from lowlight.ops.resize import resize_image

PATCH = 3


def photo_patch_points(
    photo: str = "astronaut", side: int = 64, channels: int = 1, gamma: float = 3.0
) -> Tensor:
    """Dark/bright 3 x 3 patch pairs of a scikit-image photo, one point per pixel.

    Args:
        photo: name of a colour photo in ``skimage.data`` (astronaut, coffee, chelsea, ...).
        side: the photo is resized (antialiased) to side x side, >= 2.
        channels: 1 (BT.601 luma) or 3 (RGB).
        gamma: darkening exponent, the dark image is ``bright ** gamma``.

    Returns:
        (1, side * side, 2 * 9 * channels) float32 in [0, 1]: the dark patch (channel-major, then
        row-major in the patch) followed by the bright one; borders reflected.
    """
    import skimage.data

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if side < 2:
        raise ValueError(f"side must be >= 2, got {side}")
    image = torch.from_numpy(getattr(skimage.data, photo)())  # (H, W, 3) uint8
    rgb = image.permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
    rgb = resize_image(rgb, (side, side))
    bright = rgb_to_luma(rgb) if channels == 1 else rgb

    def patches(img: Tensor) -> Tensor:
        padded = F.pad(img, (1, 1, 1, 1), mode="reflect")
        return F.unfold(padded, PATCH).mT  # (1, side * side, C * 9)

    return torch.cat([patches(bright**gamma), patches(bright)], dim=2).contiguous()


#: scikit-learn's KMeans algorithms; both are timed and the faster reported
SKLEARN_ALGORITHMS = ("lloyd", "elkan")


def _pipeline_points() -> int:
    """Points the enhancer samples for clustering (``GPOptions().cluster_points``)."""
    points = GPOptions().cluster_points
    if points is None:
        raise ValueError("GPOptions().cluster_points is None: the pipeline clusters all points")
    return points


@dataclass(frozen=True)
class KMeansBenchOptions:
    """What :func:`kmeans_vs_sklearn` measures.

    Attributes:
        n: points per image, a perfect square (the photo is resized to sqrt(n) x sqrt(n)).
        dims: point dimensions, each 18 (luma) or 54 (RGB).
        ks: cluster counts.
        seed: first seed.
        repeats: timed runs per side and configuration (after one warm-up run), >= 1.
        photo: scikit-image photo name.
        threads: torch threads during the runs (``None``: torch's current setting); the BLAS and
            OpenMP pools (scikit-learn's) get the same number.
        tol: relative tolerance for both libraries.
        max_iter: iteration cap of the all-points setting.
        pipeline_points: points of the pipeline setting (default: the enhancer's).
        pipeline_max_iter: iteration cap of the pipeline setting (default: the enhancer's).
    """

    n: int = 65536
    dims: tuple[int, ...] = (18, 54)
    ks: tuple[int, ...] = (10, 30, 200)
    seed: int = 0
    repeats: int = 5
    photo: str = "astronaut"
    threads: int | None = None
    tol: float = 1e-4
    max_iter: int = 300
    pipeline_points: int = field(default_factory=_pipeline_points)
    pipeline_max_iter: int = field(default_factory=lambda: GPOptions().kmeans_max_iter)


def kmeans_vs_sklearn(options: KMeansBenchOptions = KMeansBenchOptions()) -> list[dict]:
    """Time our k-means and scikit-learn's on the same points, in both settings (module doc).

    Returns:
        One dict per (d, k): ``d, k, n, threads, load`` (1-minute load average before the row),
        ``sample`` and ``sample_max_iter`` (the pipeline setting); for the all-points setting
        (no prefix) and the pipeline setting (prefix ``pipe_``): median wall seconds
        ``t_ours_s``, ``t_sklearn_s``, scikit-learn's faster ``sklearn_algorithm``,
        ``speedup`` (t_sklearn / t_ours), ``inertia_ratio`` (ours / sklearn, mean inertias on all
        n points), mean iteration counts ``n_iter_ours``, ``n_iter_sklearn``; and
        ``pipe_inertia_vs_full`` (ours in the pipeline setting / scikit-learn on all points).
    """
    from threadpoolctl import threadpool_limits

    side = math.isqrt(options.n)
    if side * side != options.n:
        raise ValueError(f"n must be a perfect square, got {options.n}")
    if any(dim not in (18, 54) for dim in options.dims):
        raise ValueError(f"dims must each be 18 or 54, got {options.dims}")
    if options.pipeline_points > options.n:
        raise ValueError(f"pipeline_points {options.pipeline_points} > n {options.n}")

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(options.threads or previous_threads)
    limits = threadpool_limits(torch.get_num_threads())
    rows = []
    try:
        for dim in options.dims:
            points = photo_patch_points(options.photo, side, dim // 18)
            for k in options.ks:
                load = os.getloadavg()[0]
                full = _setting(points, k, None, options.max_iter, options)
                pipe = _setting(points, k, options.pipeline_points, options.pipeline_max_iter, options)
                row = {"d": dim, "k": k, "n": options.n, "threads": torch.get_num_threads(),
                       "load": load, "sample": options.pipeline_points,
                       "sample_max_iter": options.pipeline_max_iter}
                row.update(_summary(points, full, ""))
                row.update(_summary(points, pipe, "pipe_"))
                row["pipe_inertia_vs_full"] = row["pipe_inertia_ours"] / row["inertia_sklearn"]
                rows.append(row)
    finally:
        torch.set_num_threads(previous_threads)
        limits.restore_original_limits()
    return rows


def _setting(points: Tensor, k: int, sample: int | None, max_iter: int,
             options: KMeansBenchOptions) -> Timings:
    """Interleaved timings of ours and each scikit-learn algorithm; results are (centres, n_iter)."""
    from sklearn.cluster import KMeans

    def data(round_: int) -> tuple[Tensor, int]:
        seed = options.seed + round_
        if sample is None:
            return points, seed
        idx = torch.randperm(points.shape[1], generator=torch.Generator().manual_seed(seed))[:sample]
        return points[:, idx].contiguous(), seed

    def ours(round_: int) -> Callable[[], tuple[Tensor, int]]:
        x, seed = data(round_)

        def run() -> tuple[Tensor, int]:
            result = kmeans(x, k, tol=options.tol, max_iter=max_iter,
                            generator=torch.Generator().manual_seed(seed))
            return result.centres, int(result.n_iter[0])
        return run

    def theirs(algorithm: str) -> Callable[[int], Callable[[], tuple[Tensor, int]]]:
        def prepare(round_: int) -> Callable[[], tuple[Tensor, int]]:
            x, seed = data(round_)
            array = x[0].numpy()

            def run() -> tuple[Tensor, int]:
                fit = KMeans(k, init="k-means++", n_init=1, algorithm=algorithm, tol=options.tol,
                             max_iter=max_iter, random_state=seed).fit(array)
                return torch.from_numpy(fit.cluster_centers_)[None], int(fit.n_iter_)
            return run
        return prepare

    sides = {"ours": ours, **{algorithm: theirs(algorithm) for algorithm in SKLEARN_ALGORITHMS}}
    return interleaved_times(sides, options.repeats)


def _summary(points: Tensor, timings: Timings, prefix: str) -> dict:
    """Medians, the faster scikit-learn algorithm and mean inertias (all points) of a setting."""
    algorithm = fastest({name: timings.seconds[name] for name in SKLEARN_ALGORITHMS})

    def inertia(name: str) -> float:
        return statistics.fmean(
            float(assign(points, centres)[1].double().sum()) for centres, _ in timings.results[name]
        )

    def iterations(name: str) -> float:
        return statistics.fmean(n_iter for _, n_iter in timings.results[name])

    t_ours, t_sklearn = timings.median("ours"), timings.median(algorithm)
    inertia_ours, inertia_sklearn = inertia("ours"), inertia(algorithm)
    return {
        f"{prefix}t_ours_s": t_ours, f"{prefix}t_sklearn_s": t_sklearn,
        f"{prefix}sklearn_algorithm": algorithm, f"{prefix}speedup": t_sklearn / t_ours,
        f"{prefix}inertia_ours": inertia_ours, f"{prefix}inertia_sklearn": inertia_sklearn,
        f"{prefix}inertia_ratio": inertia_ours / inertia_sklearn,
        f"{prefix}n_iter_ours": iterations("ours"), f"{prefix}n_iter_sklearn": iterations(algorithm),
    }


def format_markdown(rows: list[dict]) -> str:
    """Two markdown tables of :func:`kmeans_vs_sklearn` rows: all points, the pipeline setting."""
    header = ["d", "k", "n", "threads", "load", "ours (s)", "sklearn (s)", "sklearn algorithm",
              "speedup", "inertia ours/sk", "iters ours", "iters sk"]
    full = [[str(r["d"]), str(r["k"]), str(r["n"]), str(r["threads"]), f"{r['load']:.1f}",
             f"{r['t_ours_s']:.3f}", f"{r['t_sklearn_s']:.3f}", r["sklearn_algorithm"],
             f"{r['speedup']:.2f}x", f"{r['inertia_ratio']:.4f}",
             f"{r['n_iter_ours']:.0f}", f"{r['n_iter_sklearn']:.0f}"] for r in rows]
    pipe_header = ["d", "k", "points", "max iters", "ours (ms)", "sklearn (ms)",
                   "sklearn algorithm", "speedup", "inertia ours/sk", "inertia vs sk on all n",
                   "iters ours", "iters sk"]
    pipe = [[str(r["d"]), str(r["k"]), str(r["sample"]), str(r["sample_max_iter"]),
             f"{1e3 * r['pipe_t_ours_s']:.1f}", f"{1e3 * r['pipe_t_sklearn_s']:.1f}",
             r["pipe_sklearn_algorithm"], f"{r['pipe_speedup']:.2f}x",
             f"{r['pipe_inertia_ratio']:.4f}", f"{r['pipe_inertia_vs_full']:.4f}",
             f"{r['pipe_n_iter_ours']:.1f}", f"{r['pipe_n_iter_sklearn']:.1f}"] for r in rows]
    return (f"All {rows[0]['n'] if rows else 0} points, up to the iteration cap:\n\n"
            + markdown_table(header, full)
            + "\n\nThe pipeline's setting (sampled points, its iteration cap):\n\n"
            + markdown_table(pipe_header, pipe))
