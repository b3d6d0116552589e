"""Benchmark rows: :func:`lowlight.cluster.kmeans.kmeans` against scikit-learn's ``KMeans``.

The data are the paper's points (III.B) built from a bundled scikit-image photo: 3 x 3 patches of
a darkened copy (``x ** gamma``) and of the photo itself, concatenated per pixel, so d = 18 for
luma and d = 54 for RGB.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.color import rgb_to_luma
from lowlight.cluster.kmeans import kmeans

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
    rgb = F.interpolate(rgb, size=(side, side), mode="bilinear", antialias=True).clamp(0.0, 1.0)
    bright = rgb_to_luma(rgb) if channels == 1 else rgb

    def patches(img: Tensor) -> Tensor:
        padded = F.pad(img, (1, 1, 1, 1), mode="reflect")
        return F.unfold(padded, PATCH).mT  # (1, side * side, C * 9)

    return torch.cat([patches(bright**gamma), patches(bright)], dim=2).contiguous()


def kmeans_vs_sklearn(
    n: int = 65536,
    dims: tuple[int, ...] = (18, 54),
    ks: tuple[int, ...] = (10, 30, 200),
    seed: int = 0,
    repeats: int = 3,
    subsample: int = 8192,
    photo: str = "astronaut",
    threads: int | None = None,
    tol: float = 1e-4,
    max_iter: int = 300,
) -> list[dict]:
    """Time our k-means (all points, and ``subsample``) and scikit-learn's on the same points.

    Repeat r uses seed ``seed + r`` in both libraries; a row averages the wall times, the
    inertias (always on all n points) and the iteration counts over the repeats, so the inertia
    ratio compares the two algorithms rather than two random seedings. scikit-learn runs
    ``KMeans(init="k-means++", n_init=1, algorithm="lloyd")`` with the same ``tol`` and
    ``max_iter`` on the same float32 array.

    Args:
        n: points per image, a perfect square (the photo is resized to sqrt(n) x sqrt(n)).
        dims: point dimensions, each 18 (luma) or 54 (RGB).
        ks: cluster counts.
        seed: first seed.
        repeats: runs per configuration and library, >= 1.
        subsample: the ``subsample`` of the fast variant.
        photo: scikit-image photo name.
        threads: torch threads during the runs (``None``: torch's current setting); the BLAS
            and OpenMP pools (scikit-learn's) get the same number.
        tol: relative tolerance for both.
        max_iter: iteration limit for both.

    Returns:
        One dict per (d, k): d, k, n, threads, load (1-minute load average before the row),
        wall times t_ours_s, t_ours_sub_s, t_sklearn_s, speedup (t_sklearn / t_ours),
        speedup_sub, process CPU times cpu_ours_s, cpu_ours_sub_s, cpu_sklearn_s (steadier than
        wall times on a shared machine, comparable as speed-ups with one thread),
        inertia_ratio (ours / sklearn), inertia_ratio_sub, n_iter_ours, n_iter_sklearn.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"n must be a perfect square, got {n}")
    if any(dim not in (18, 54) for dim in dims):
        raise ValueError(f"dims must each be 18 or 54, got {dims}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")

    def ours(points: Tensor, k: int, s: int, sub: int | None) -> tuple[float, float]:
        result = kmeans(points, k, subsample=sub, tol=tol, max_iter=max_iter,
                        generator=torch.Generator().manual_seed(s))
        return float(result.inertia[0]), float(result.n_iter[0])

    def theirs(points: Tensor, k: int, s: int) -> tuple[float, float]:
        fit = KMeans(k, init="k-means++", n_init=1, algorithm="lloyd", tol=tol,
                     max_iter=max_iter, random_state=s).fit(points[0].numpy())
        return float(fit.inertia_), float(fit.n_iter_)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or previous_threads)
    limits = threadpool_limits(torch.get_num_threads())
    rows = []
    try:
        for dim in dims:
            points = photo_patch_points(photo, side, dim // 18)
            ours(points[:, :1024], 4, seed, None)  # warm-up: first-call allocations, MKL
            for k in ks:
                load = os.getloadavg()[0]
                runs: dict[str, list[tuple[float, ...]]] = {"ours": [], "sub": [], "sklearn": []}
                for s in range(seed, seed + repeats):
                    runs["ours"].append(_timed(partial(ours, points, k, s, None)))
                    runs["sub"].append(_timed(partial(ours, points, k, s, subsample)))
                    runs["sklearn"].append(_timed(partial(theirs, points, k, s)))
                t, cpu, inertia, n_iter = ({name: sum(v[i] for v in values) / repeats
                                            for name, values in runs.items()} for i in range(4))
                rows.append({
                    "d": dim, "k": k, "n": n, "threads": torch.get_num_threads(), "load": load,
                    "t_ours_s": t["ours"], "t_ours_sub_s": t["sub"], "t_sklearn_s": t["sklearn"],
                    "speedup": t["sklearn"] / t["ours"], "speedup_sub": t["sklearn"] / t["sub"],
                    "cpu_ours_s": cpu["ours"], "cpu_ours_sub_s": cpu["sub"],
                    "cpu_sklearn_s": cpu["sklearn"],
                    "inertia_ratio": inertia["ours"] / inertia["sklearn"],
                    "inertia_ratio_sub": inertia["sub"] / inertia["sklearn"],
                    "n_iter_ours": n_iter["ours"], "n_iter_sklearn": n_iter["sklearn"],
                })
    finally:
        torch.set_num_threads(previous_threads)
        limits.restore_original_limits()
    return rows


def format_markdown(rows: list[dict]) -> str:
    """A markdown table of :func:`kmeans_vs_sklearn` rows."""
    header = (
        "| d | k | n | threads | load | ours (s) | ours, subsample (s) | sklearn (s) "
        "| speedup | speedup, subsample | CPU speedup | CPU speedup, subsample "
        "| inertia ours/sk | inertia sub/sk | iters ours | iters sk |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        cpu = row["cpu_sklearn_s"] / row["cpu_ours_s"]
        cpu_sub = row["cpu_sklearn_s"] / row["cpu_ours_sub_s"]
        lines.append(
            f"| {row['d']} | {row['k']} | {row['n']} | {row['threads']} | {row['load']:.1f} "
            f"| {row['t_ours_s']:.3f} | {row['t_ours_sub_s']:.3f} | {row['t_sklearn_s']:.3f} "
            f"| {row['speedup']:.2f} | {row['speedup_sub']:.2f} | {cpu:.2f} | {cpu_sub:.2f} "
            f"| {row['inertia_ratio']:.4f} | {row['inertia_ratio_sub']:.4f} "
            f"| {row['n_iter_ours']:.0f} | {row['n_iter_sklearn']:.0f} |"
        )
    return "\n".join(lines)


def _timed(run: Callable[[], tuple[float, float]]) -> tuple[float, float, float, float]:
    """(wall seconds, process CPU seconds, *run())."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return (time.perf_counter() - wall, time.process_time() - cpu, *result)
