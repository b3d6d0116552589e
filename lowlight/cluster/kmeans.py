"""Batched k-means++: scikit-learn's greedy seeding, then plain Lloyd iterations.

One call clusters B independent point sets (one per image), ``points: (B, N, d)``. The algorithm
is scikit-learn's ``KMeans(init="k-means++", n_init=1, algorithm="lloyd")`` step for step
(seeding, tolerance, strict convergence, empty-cluster relocation, final E-step); only the random
numbers differ (torch instead of numpy). Triangle-inequality pruning of the E-step (Elkan,
Yinyang) was measured and removed: on the product's workload (4096 points, k = 30, 10
iterations) it was no faster than this plain E-step.

Randomness: all random numbers come from ``generator`` (the default CPU generator when ``None``)
on the generator's device, then move to the points' device. They are drawn image by image, in a
fixed order per image: the subsample (``randperm``, only when ``subsample < N``), the first
centre (``randint``), then the ``(k - 1, n_local_trials)`` float64 seeding uniforms. A batched
call therefore equals calling the function on each image in turn with the same generator.

Distances: the data are centred by their per-image mean. Seeding gets ``||x||^2 - 2 x.c +
||c||^2`` in one matmul against the augmented rows ``[-2 x, 1, ||x||^2]`` (clamped at 0) and holds
(B, n_local_trials, N) distances; Lloyd's scores ``||c||^2 - 2 x.c`` come in chunks of
``chunk_size`` points, so the (chunk, k) buffer stays in cache and no (N, k) buffer is
allocated. Reported distances (the inertia and
``assign``'s ``min_sq_dist``) are recomputed from the differences.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

CHUNK_ELEMENTS = 1 << 18
"""Default distance-chunk size in scores (1 MiB of float32), i.e. ``chunk_size = 2**18 // k``."""



@dataclass(frozen=True)
class KMeansResult:
    """Output of :func:`kmeans` for B point sets.

    Attributes:
        centres: (B, k, d) in the points' dtype.
        labels: (B, N) int64 in [0, k), the centre of every point (all N, also with ``subsample``).
        inertia: (B,) float64, sum over all N points of the squared distance to their centre.
        n_iter: (B,) int64 in [1, max_iter], the Lloyd iterations run for each image.
    """

    centres: Tensor
    labels: Tensor
    inertia: Tensor
    n_iter: Tensor


@torch.no_grad()
def kmeans(
    points: Tensor,
    k: int,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
    n_local_trials: int | None = None,
    subsample: int | None = None,
    init: Tensor | None = None,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> KMeansResult:
    """k-means++ seeding then Lloyd iterations, independently for each of the B point sets.

    Lloyd stops when the labels no longer change or when the squared centre shift summed over
    the centres is at most ``tol * mean(per-dimension variance of the fitted points)``
    (scikit-learn's ``_tolerance``), or after ``max_iter`` iterations; a final E-step makes the
    labels and the inertia agree with the returned centres. Empty clusters take the points
    farthest from their centres (as scikit-learn); with fewer distinct points than k, some
    centres are duplicates and a ``UserWarning`` names the counts.

    Memory besides the points: a centred copy, the (B, n_fit, d + 2) augmented rows while
    seeding, (B, n_fit) labels and (chunk_size, k) distance chunks.

    Args:
        points: (B, N, d) float (float32 or float64), any range; not differentiated.
        k: number of clusters, 1 <= k <= N (and <= ``subsample``).
        max_iter: maximum Lloyd iterations, >= 1.
        tol: relative tolerance on the centre shift, >= 0.
        n_local_trials: seeding candidates per centre; ``None`` gives ``2 + int(ln k)``.
        subsample: seed and iterate on that many points per image drawn without replacement
            (``None`` or >= N: all points); labels and inertia still cover all N points.
        init: (B, k, d) initial centres instead of k-means++ seeding (then nothing is drawn
            for seeding).
        chunk_size: points per distance chunk, >= 1; ``None`` gives ``max(1, 2**18 // k)``.
        generator: source of all random numbers (see the module docstring); CPU or the points'
            device.

    Returns:
        A :class:`KMeansResult`.
    """
    _check_points(points, "points")
    batch, n_points, dim = points.shape
    n_fit = n_points if subsample is None else min(subsample, n_points)
    _check_k(k, n_fit, "N" if n_fit == n_points else "subsample")
    _check_at_least(max_iter, 1, "max_iter")
    chunk_size = _chunk_rows(k, chunk_size)
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if init is not None and tuple(init.shape) != (batch, k, dim):
        raise ValueError(f"init: expected (B, k, d) = {(batch, k, dim)}, got {tuple(init.shape)}")
    trials = _local_trials(k, n_local_trials)

    x = points.detach()
    mean = x.mean(dim=1, keepdim=True)  # (B, 1, d)
    x = x - mean  # centring keeps the norm expansion accurate for offset data
    fit_idx, first, uniforms = _draw(
        batch, n_points, n_fit, k, trials, init is None, generator, x.device
    )
    x_fit = x if fit_idx is None else _gather_rows(x, fit_idx)  # (B, n_fit, d)

    if init is not None:
        centres = init.detach().to(x) - mean
    else:
        assert first is not None and uniforms is not None  # drawn whenever init is None
        centres = _gather_rows(x_fit, _seed_indices(_augment(x_fit), first, uniforms))
    threshold = tol * x_fit.var(dim=1, correction=0).mean(dim=1).double()  # (B,)
    centres, labels, n_iter = _lloyd(x_fit, centres, threshold, max_iter, chunk_size)
    if fit_idx is not None:
        labels = _nearest(x, centres, chunk_size)
    inertia = _assigned_sq_dist(x, centres, labels, chunk_size).sum(dim=1, dtype=torch.float64)
    _warn_duplicate_centres(x_fit, centres)
    return KMeansResult(centres + mean, labels, inertia, n_iter)


@torch.no_grad()
def kmeans_plusplus(
    points: Tensor,
    k: int,
    *,
    n_local_trials: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Greedy k-means++ seeding, as scikit-learn's ``kmeans_plusplus``, for each point set.

    The first centre is uniform among the points; each next one is the best, by the potential
    (sum of squared distances to the nearest centre) it leaves, of ``n_local_trials`` candidates
    drawn with probability proportional to the squared distance to the nearest centre (D^2).
    Uses the same draws as :func:`kmeans` without ``subsample``, so both give the same seeds.

    Args:
        points: (B, N, d) float, any range.
        k: number of centres, 1 <= k <= N.
        n_local_trials: candidates per centre; ``None`` gives ``2 + int(ln k)``.
        generator: source of the random numbers, drawn as described in the module docstring.

    Returns:
        centres: (B, k, d) in the points' dtype, rows of ``points``.
        indices: (B, k) int64 in [0, N), ``centres[b, j] == points[b, indices[b, j]]``.
    """
    _check_points(points, "points")
    batch, n_points, _ = points.shape
    _check_k(k, n_points, "N")
    trials = _local_trials(k, n_local_trials)
    x = points.detach()
    _, first, uniforms = _draw(batch, n_points, n_points, k, trials, True, generator, x.device)
    assert first is not None and uniforms is not None
    indices = _seed_indices(_augment(x - x.mean(dim=1, keepdim=True)), first, uniforms)
    return _gather_rows(x, indices), indices


@torch.no_grad()
def assign(
    points: Tensor, centres: Tensor, chunk_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """Nearest centre of every point.

    Args:
        points: (B, N, d) float, any range.
        centres: (B, k, d) float, same device as ``points`` (cast to its dtype).
        chunk_size: points per distance chunk, >= 1; ``None`` gives ``max(1, 2**18 // k)``.

    Returns:
        labels: (B, N) int64 in [0, k), the first nearest centre on (computed) ties.
        min_sq_dist: (B, N) in the points' dtype, >= 0, the squared distance to that centre
            computed from the differences.
    """
    _check_points(points, "points")
    _check_points(centres, "centres")
    if centres.shape[0] != points.shape[0] or centres.shape[2] != points.shape[2]:
        raise ValueError(
            f"centres: expected (B, k, d) with B, d of points {tuple(points.shape)}, "
            f"got {tuple(centres.shape)}"
        )
    chunk_size = _chunk_rows(centres.shape[1], chunk_size)
    mean = points.mean(dim=1, keepdim=True)
    x, c = points - mean, centres.to(points) - mean
    labels = _nearest(x, c, chunk_size)
    return labels, _assigned_sq_dist(x, c, labels, chunk_size)


def cluster_means(
    points: Tensor, labels: Tensor, k: int, fallback: Tensor | None = None
) -> Tensor:
    """Mean of the members of every cluster, differentiable with respect to ``points``.

    Args:
        points: (B, N, d) float, any range.
        labels: (B, N) int64 in [0, k).
        k: number of clusters, >= 1.
        fallback: (B, k, d) float, the value of empty clusters; ``None`` gives the mean of all
            N points of the image (so an empty cluster never yields NaN).

    Returns:
        (B, k, d) in the points' dtype; gradients flow to ``points`` (and ``fallback``).
    """
    _check_points(points, "points")
    batch, n_points, dim = points.shape
    _check_at_least(k, 1, "k")
    if tuple(labels.shape) != (batch, n_points) or labels.dtype != torch.int64:
        raise ValueError(
            f"labels: expected int64 (B, N) = {(batch, n_points)}, "
            f"got {labels.dtype} {tuple(labels.shape)}"
        )
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= k:
        raise ValueError(f"labels must lie in [0, k={k}), got values in [{low}, {high}]")
    if fallback is None:
        fallback = points.mean(dim=1, keepdim=True).expand(batch, k, dim)
    elif tuple(fallback.shape) != (batch, k, dim):
        raise ValueError(f"fallback: expected {(batch, k, dim)}, got {tuple(fallback.shape)}")
    sums, counts = _cluster_sums(points, labels, k)
    means = sums / counts.clamp_min(1).to(points.dtype)
    return torch.where(counts > 0, means, fallback)


# ----------------------------------------------------------------------------- checks


def _check_points(x: Tensor, name: str) -> None:
    if x.ndim != 3 or min(x.shape) < 1:
        raise ValueError(f"{name}: expected (B, N, d) with B, N, d >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, got {x.dtype}")


def _check_at_least(value: int, low: int, name: str) -> None:
    if not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _check_k(k: int, n_fit: int, what: str) -> None:
    _check_at_least(k, 1, "k")
    if k > n_fit:
        raise ValueError(f"k={k} exceeds the number of points to fit ({what}={n_fit})")


def _chunk_rows(k: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, CHUNK_ELEMENTS // k)
    _check_at_least(chunk_size, 1, "chunk_size")
    return chunk_size


def _local_trials(k: int, n_local_trials: int | None) -> int:
    if n_local_trials is None:
        return 2 + int(math.log(k))
    _check_at_least(n_local_trials, 1, "n_local_trials")
    return n_local_trials


# ----------------------------------------------------------------------------- randomness


def _draw(
    batch: int,
    n_points: int,
    n_fit: int,
    k: int,
    trials: int,
    seeding: bool,
    generator: torch.Generator | None,
    device: torch.device,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """All random numbers of one call, image by image in a fixed order (module docstring).

    Returns:
        fit_idx: (B, n_fit) int64 subsample indices, ``None`` when all points are fitted.
        first: (B,) int64 in [0, n_fit), the first centres, ``None`` without seeding.
        uniforms: (B, k - 1, trials) float64 in [0, 1), the candidates' draws, ``None`` without
            seeding.
    """
    source = torch.device("cpu") if generator is None else generator.device
    fit_idx, first, uniforms = [], [], []
    for _ in range(batch):
        if n_fit < n_points:
            perm = torch.randperm(n_points, generator=generator, device=source)
            fit_idx.append(perm[:n_fit])
        if seeding:
            first.append(torch.randint(n_fit, (1,), generator=generator, device=source))
            uniforms.append(
                torch.rand(k - 1, trials, generator=generator, device=source, dtype=torch.float64)
            )
    return (
        torch.stack(fit_idx).to(device) if fit_idx else None,
        torch.cat(first).to(device) if first else None,
        torch.stack(uniforms).to(device) if uniforms else None,
    )


# ----------------------------------------------------------------------------- seeding


def _augment(x: Tensor) -> Tensor:
    """Rows ``[-2 x, 1, ||x||^2]`` of a (B, N, d) tensor: (B, N, d + 2), same dtype.

    ``augmented[..., : d + 1] @ [c, ||c||^2]`` is ``||c||^2 - 2 x.c`` (the Lloyd score) and
    ``augmented @ [c, ||c||^2, 1]`` the squared distance, each in one matmul.
    """
    ones = x.new_ones(x.shape[:2] + (1,))
    return torch.cat([-2.0 * x, ones, x.square().sum(dim=2, keepdim=True)], dim=2)


def _seed_indices(augmented: Tensor, first: Tensor, uniforms: Tensor) -> Tensor:
    """Greedy D^2 seeding (scikit-learn's ``_kmeans_plusplus``) for every image at once.

    Args:
        augmented: (B, N, d + 2) rows ``[-2 x, 1, ||x||^2]`` of the centred points.
        first: (B,) int64, the first centre's index.
        uniforms: (B, k - 1, T) float64 in [0, 1), T candidates per further centre.

    Returns:
        (B, k) int64 indices of the centres in [0, N).
    """
    batch, n_points, width = augmented.shape
    k = uniforms.shape[1] + 1
    rows = torch.arange(batch, device=augmented.device)
    indices = torch.empty(batch, k, dtype=torch.int64, device=augmented.device)
    indices[:, 0] = first
    closest = _sq_dist_to_rows(augmented, first[:, None])[:, 0]  # (B, N)
    for step in range(1, k):
        cumulative = closest.double().cumsum(dim=1)  # (B, N); float64 keeps the tail's mass
        targets = uniforms[:, step - 1] * cumulative[:, -1:]  # (B, T)
        # right=True never lands on a zero-distance point (an existing centre) unless all are
        candidates = torch.searchsorted(cumulative, targets, right=True).clamp_max_(n_points - 1)
        dist = _sq_dist_to_rows(augmented, candidates)  # (B, T, N)
        torch.minimum(dist, closest[:, None, :], out=dist)
        best = dist.sum(dim=2).argmin(dim=1)  # (B,), the candidate leaving the least potential
        indices[:, step] = candidates[rows, best]
        closest = dist[rows, best]
    return indices


def _sq_dist_to_rows(augmented: Tensor, rows: Tensor) -> Tensor:
    """Squared distances from every point to some of the points.

    Args:
        augmented: (B, N, d + 2) rows ``[-2 x, 1, ||x||^2]``.
        rows: (B, T) int64 in [0, N).

    Returns:
        (B, T, N) in the points' dtype, >= 0.
    """
    chosen = _gather_rows(augmented, rows)  # (B, T, d + 2)
    d = augmented.shape[2] - 2
    c = torch.cat([-0.5 * chosen[..., :d], chosen[..., d + 1 :], chosen[..., d : d + 1]], dim=2)
    return torch.bmm(c, augmented.mT).clamp_min_(0.0)  # c is [x, ||x||^2, 1]


# ----------------------------------------------------------------------------- Lloyd


def _lloyd(
    x: Tensor, centres: Tensor, threshold: Tensor, max_iter: int, chunk_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Plain Lloyd iterations for B images at once, one convergence state per image.

    Each iteration is a full E-step (the nearest centre of every point, in chunks), the relocation
    of empty clusters, and an M-step with float64 cluster sums. An image stops at a fixed point
    (no label changed) or when its summed squared centre shift is at most its threshold; its
    centres and labels are then frozen while the others go on.

    Args:
        x: (B, N, d) centred points.
        centres: (B, k, d) initial centres in the same frame.
        threshold: (B,) float64, convergence bound on the summed squared centre shift.
        max_iter: maximum iterations.
        chunk_size: points per distance chunk.

    Returns:
        centres: (B, k, d) in the points' dtype, the last M-step's centres.
        labels: (B, N) int64, nearest centre of every point for those centres.
        n_iter: (B,) int64, iterations run per image.
    """
    batch, k = x.shape[0], centres.shape[1]
    labels = _nearest(x, centres, chunk_size)
    x64 = x.double()  # the M-step sums in float64
    exact = centres.double()  # float64 master copy of the centres
    limits = threshold.tolist()
    active, strict, n_iter = [True] * batch, [False] * batch, [0] * batch
    for iteration in range(max_iter):
        moved = [x.shape[1]] * batch
        if iteration > 0:
            new_labels = _nearest(x, centres, chunk_size)
            if not all(active):
                new_labels = torch.where(_flags(active, x.device)[:, None], new_labels, labels)
            moved = (new_labels != labels).sum(dim=1).tolist()
            labels = new_labels
        sums, counts = _cluster_sums(x64, labels, k)  # (B, k, d) float64, (B, k, 1)
        empty = (counts[:, :, 0] == 0) & _flags(active, x.device)[:, None]
        relocated = _relocate_empty(x, centres, labels, empty)
        if any(relocated):
            sums, counts = _cluster_sums(x64, labels, k)
        frozen = (counts == 0) | ~_flags(active, x.device)[:, None, None]
        new = torch.where(frozen, exact, sums / counts.clamp_min(1))
        totals = (new - exact).square_().sum(dim=(1, 2)).tolist()
        exact, centres = new, new.to(centres.dtype)
        for b in range(batch):
            if active[b]:
                n_iter[b] += 1
                strict[b] = moved[b] + relocated[b] == 0  # labels unchanged: a fixed point
                active[b] = not (strict[b] or totals[b] <= limits[b])
        if not any(active):
            break
    if not all(strict):  # labels for the returned centres
        final = _nearest(x, centres, chunk_size)
        labels = torch.where(_flags(strict, x.device)[:, None], labels, final)
    return centres, labels, torch.tensor(n_iter, device=centres.device)


def _flags(values: list[bool], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.bool, device=device)


def _cluster_sums(x: Tensor, labels: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Sums (B, k, d) in the dtype of ``x`` and member counts (B, k, 1) of the clusters.

    Differentiable in ``x``. Off the CPU the sums are a one-hot matrix product: CUDA's
    ``index_add`` adds with atomics, in another order on every run, so the same image would not
    give the same bits twice (the outputs of a bulk run must not depend on the run).
    """
    batch, n_points, dim = x.shape
    flat_labels = (labels + k * torch.arange(batch, device=labels.device)[:, None]).reshape(-1)
    counts = torch.bincount(flat_labels, minlength=batch * k).view(batch, k, 1)
    if x.device.type == "cpu":
        return _sums_by_index(x, flat_labels, k), counts
    return _sums_by_one_hot(x, labels, k), counts


def _sums_by_index(x: Tensor, flat_labels: Tensor, k: int) -> Tensor:
    """(B, k, d) cluster sums of (B, N, d) points, by ``index_add`` on (B N,) batch-offset labels."""
    batch, _, dim = x.shape
    return x.new_zeros(batch * k, dim).index_add(0, flat_labels, x.reshape(-1, dim)).view(batch, k, dim)


def _sums_by_one_hot(x: Tensor, labels: Tensor, k: int) -> Tensor:
    """(B, k, d) cluster sums of (B, N, d) points, as (B, k, N) one-hot @ points (deterministic)."""
    return torch.bmm(torch.nn.functional.one_hot(labels, k).to(x.dtype).transpose(1, 2), x)


def _nearest(x: Tensor, centres: Tensor, chunk_size: int) -> Tensor:
    """(B, N) int64 index of the nearest of the (B, k, d) centres for the (B, N, d) points."""
    c_sq = centres.square().sum(dim=2)[:, None, :]  # (B, 1, k)
    labels = torch.empty(x.shape[:2], dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[1], chunk_size):
        part = slice(start, start + chunk_size)
        scores = torch.baddbmm(c_sq, x[:, part], centres.mT, alpha=-2)  # (B, n, k)
        labels[:, part] = scores.min(dim=2).indices
    return labels


def _assigned_sq_dist(x: Tensor, centres: Tensor, labels: Tensor, chunk_size: int) -> Tensor:
    """(B, N) squared distance of every point of (B, N, d) to its centre, from the differences."""
    out = x.new_empty(x.shape[:2])
    for start in range(0, x.shape[1], chunk_size):
        part = slice(start, start + chunk_size)
        own = _gather_rows(centres, labels[:, part])  # (B, n, d)
        out[:, part] = (x[:, part] - own).square_().sum(dim=2)
    return out


def _gather_rows(x: Tensor, idx: Tensor) -> Tensor:
    """Rows ``x[b, idx[b, j]]`` of a (B, N, d) tensor for (B, M) int64 indices: (B, M, d)."""
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[2]))


def _relocate_empty(x: Tensor, centres: Tensor, labels: Tensor, empty: Tensor) -> list[int]:
    """Give every empty cluster one of the points farthest from their centre.

    As scikit-learn's ``_relocate_empty_clusters_dense``: the point's label becomes the empty
    cluster (``labels`` changes in place); nothing moves when every point sits on its centre
    (fewer distinct points than k).

    Args:
        x: (B, N, d) points; centres: (B, k, d); labels: (B, N) int64, updated in place.
        empty: (B, k) bool, the clusters to fill.

    Returns:
        How many points of each image moved.
    """
    moved = [0] * x.shape[0]
    if not bool(empty.any()):
        return moved
    for b in empty.any(dim=1).nonzero().squeeze(1).tolist():
        clusters = empty[b].nonzero().squeeze(1)
        sq_dist = (x[b] - centres[b, labels[b]]).square().sum(dim=1)
        if not bool(sq_dist.max() > 0):
            continue
        far = sq_dist.topk(clusters.numel()).indices
        labels[b, far] = clusters
        moved[b] = clusters.numel()
    return moved


def _warn_duplicate_centres(x_fit: Tensor, centres: Tensor) -> None:
    """``UserWarning`` for every image whose k centres are not all distinct."""
    k = centres.shape[1]
    for b in range(centres.shape[0] if k > 1 else 0):
        n_centres = torch.unique(centres[b], dim=0).shape[0]
        if n_centres < k:
            n_distinct = torch.unique(x_fit[b], dim=0).shape[0]
            warnings.warn(
                f"image {b}: only {n_centres} distinct centres for k={k} ({n_distinct} distinct "
                f"points among the {x_fit.shape[1]} fitted); duplicate centres are kept",
                UserWarning,
                stacklevel=4,  # past kmeans and its no_grad wrapper: the caller's line
            )
