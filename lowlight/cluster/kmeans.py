"""Batched k-means++: scikit-learn's greedy seeding, then Lloyd iterations with pruned E-steps.

One call clusters B independent point sets (one per image), ``points: (B, N, d)``. The algorithm
is scikit-learn's ``KMeans(init="k-means++", n_init=1, algorithm="lloyd")`` step for step
(seeding, tolerance, strict convergence, empty-cluster relocation, final E-step); only the random
numbers differ (torch instead of numpy). The E-step skips the points that triangle-inequality
bounds prove cannot change cluster (Elkan's per-centre lower bounds for k <= 16, Yinyang's
per-group bounds beyond, see :class:`_Bounds`), so its labels are those of plain Lloyd up to
rounding-level ties.

Randomness: all random numbers come from ``generator`` (the default CPU generator when ``None``)
on the generator's device, then move to the points' device. They are drawn image by image, in a
fixed order per image: the subsample (``randperm``, only when ``subsample < N``), the first
centre (``randint``), then the ``(k - 1, n_local_trials)`` float64 seeding uniforms. A batched
call therefore equals calling the function on each image in turn with the same generator.

Distances: the data are centred by their per-image mean, then ``||x||^2 - 2 x.c + ||c||^2`` is
one matmul against the augmented rows ``[-2 x, 1, ||x||^2]`` (clamped at 0). Lloyd scores come in
chunks of ``chunk_size`` points, so the (chunk, k) buffer stays in cache and no (N, k) buffer is
allocated; seeding holds (B, n_local_trials, N) distances. Reported distances (the inertia and
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

MAX_GROUPS = 16
"""Lower bounds kept per point: one per group of centres (Elkan for k <= 16, Yinyang beyond)."""

TIGHTEN_FROM_K = 16
"""Above this k, open points first get their exact upper bound, cheaper than all k distances."""


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

    Memory besides the points: a centred copy, the (B, n_fit, d + 2) augmented rows, the
    (B, min(k, 16) + 2, n_fit) bounds and (chunk_size, k) distance chunks.

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
    augmented = _augment(x_fit)  # (B, n_fit, d + 2)

    if init is not None:
        centres = init.detach().to(x) - mean
    else:
        assert first is not None and uniforms is not None  # drawn whenever init is None
        centres = _gather_rows(x_fit, _seed_indices(augmented, first, uniforms))
    threshold = tol * x_fit.var(dim=1, correction=0).mean(dim=1).double()  # (B,)
    centres, labels, n_iter = _lloyd(augmented, centres, threshold, max_iter, chunk_size)
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
    flat_labels = (labels + k * torch.arange(batch, device=labels.device)[:, None]).reshape(-1)
    sums = points.new_zeros(batch * k, dim).index_add(0, flat_labels, points.reshape(-1, dim))
    counts = torch.bincount(flat_labels, minlength=batch * k).view(batch, k, 1)
    means = sums.view(batch, k, dim) / counts.clamp_min(1).to(points.dtype)
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


def _centre_rows(centres: Tensor, with_one: bool) -> Tensor:
    """``[c, ||c||^2]`` (or ``[c, ||c||^2, 1]``) for centres (..., k, d): (..., k, d + 1 or 2)."""
    parts = [centres, centres.square().sum(dim=-1, keepdim=True)]
    if with_one:
        parts.append(centres.new_ones(centres.shape[:-1] + (1,)))
    return torch.cat(parts, dim=-1)


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
    augmented: Tensor, centres: Tensor, threshold: Tensor, max_iter: int, chunk_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Lloyd iterations with pruned E-steps (:class:`_Bounds`), one convergence state per image.

    Cluster sums are kept in float64 as sums of the rows ``[-2 x, 1]`` (so the last column
    counts the members) and updated only by the points that change cluster; the centres are
    ``-0.5 * sum / count``, an empty cluster keeps its centre.

    Args:
        augmented: (B, N, d + 2) rows ``[-2 x, 1, ||x||^2]`` of the centred points.
        centres: (B, k, d) initial centres in the same frame.
        threshold: (B,) float64, convergence bound on the summed squared centre shift.
        max_iter: maximum iterations.
        chunk_size: points per distance chunk.

    Returns:
        centres: (B, k, d) in the points' dtype, the last M-step's centres.
        labels: (B, N) int64, nearest centre of every point for those centres.
        n_iter: (B,) int64, iterations run per image.
    """
    batch, n_points, width = augmented.shape
    dim, k = width - 2, centres.shape[1]
    bounds = _Bounds.start(augmented, centres, chunk_size)
    sums = _cluster_sums(augmented, bounds.labels, k)  # (B * k, d + 1) float64
    exact = centres.double()  # float64 master copy of the centres
    limits = threshold.tolist()
    active, strict, n_iter = [True] * batch, [False] * batch, [0] * batch
    shift = centres.new_zeros(batch, k)  # (B, k) centre moves not yet folded into the bounds
    for iteration in range(max_iter):
        moved = [n_points] * batch
        if iteration > 0:
            ids, old = bounds.update(augmented, centres, shift, active, chunk_size)
            moved = _move_points(augmented, bounds.labels, ids, old, sums)
        relocated = _relocate_empty(augmented, centres, bounds, sums, active)

        table = sums.view(batch, k, dim + 1)
        counts = table[:, :, dim:]  # (B, k, 1)
        frozen = counts == 0
        if not all(active):
            frozen = frozen | ~torch.tensor(active, device=sums.device)[:, None, None]
        new = torch.where(frozen, exact, table[:, :, :dim] / (-2.0 * counts))
        shift_sq = (new - exact).square_().sum(dim=2)  # (B, k)
        shift = shift_sq.sqrt().to(centres.dtype)
        totals = shift_sq.sum(dim=1).tolist()
        exact, centres = new, new.to(centres.dtype)
        for b in range(batch):
            if active[b]:
                n_iter[b] += 1
                strict[b] = moved[b] + relocated[b] == 0  # labels unchanged: a fixed point
                active[b] = not (strict[b] or totals[b] <= limits[b])
        if not any(active):
            break
    if not all(strict):  # labels for the returned centres
        bounds.update(augmented, centres, shift, [not s for s in strict], chunk_size)
    return centres, bounds.labels, torch.tensor(n_iter, device=centres.device)


def _cluster_sums(augmented: Tensor, labels: Tensor, k: int) -> Tensor:
    """(B * k, d + 1) float64 sums of the rows ``[-2 x, 1]`` per cluster (chunked)."""
    batch, n_points, width = augmented.shape
    offsets = k * torch.arange(batch, device=labels.device)
    flat_labels = (labels + offsets[:, None]).view(-1)
    rows = augmented.reshape(-1, width)[:, : width - 1]
    sums = augmented.new_zeros(batch * k, width - 1, dtype=torch.float64)
    step = max(1, CHUNK_ELEMENTS // width)  # bounds the float64 copy
    for start in range(0, batch * n_points, step):
        sums.index_add_(0, flat_labels[start : start + step], rows[start : start + step].double())
    return sums


@dataclass
class _Bounds:
    """Per-point distance bounds that let the Lloyd E-step skip most points.

    The k centres form ``t = ceil(k / g)`` groups of ``g = ceil(k / MAX_GROUPS)`` consecutive
    centres: Elkan's per-centre bounds when g = 1, Yinyang's global filter beyond. Every point
    keeps an upper bound on the distance to its centre and, per group, a lower bound on the
    distance to the group's other centres. When the centres move, the upper bound grows by the
    shift of the point's centre and a group's lower bound shrinks by the largest shift in the
    group (triangle inequality). A point whose upper bound is at most all its lower bounds, or
    at most half the gap from its centre to the nearest other centre, keeps its label without
    distance computations.

    Attributes:
        labels: (B, N) int64 in [0, k).
        upper: (B, N) float, upper bound on the distance to ``centres[labels]``.
        lower: (B, t, N) float, lower bounds per group (own centre excluded; inf if none).
        group_size: g.
    """

    labels: Tensor
    upper: Tensor
    lower: Tensor
    group_size: int

    @classmethod
    def start(cls, augmented: Tensor, centres: Tensor, chunk_size: int) -> _Bounds:
        """Bounds from a full E-step over all points."""
        k = centres.shape[1]
        group_size = -(-k // MAX_GROUPS)
        c = _centre_rows(centres, with_one=False)
        parts = [
            _nearest_by_group(augmented[b], c[b], group_size, chunk_size)
            for b in range(c.shape[0])
        ]
        labels, upper, lower = (torch.stack(values) for values in zip(*parts))
        return cls(labels, upper, lower, group_size)

    def update(
        self,
        augmented: Tensor,
        centres: Tensor,
        shift: Tensor,
        active: list[bool],
        chunk_size: int,
    ) -> tuple[Tensor, Tensor]:
        """Fold ``shift`` into the bounds, then relabel the points of active images.

        Args:
            augmented: (B, N, d + 2) rows ``[-2 x, 1, ||x||^2]``.
            centres: (B, k, d), the centres after the shift.
            shift: (B, k), distance each centre moved since the bounds were last valid.
            active: B flags, the images whose points are relabelled.
            chunk_size: points per distance chunk.

        Returns:
            moved: (M,) int64 flat point ids (b * N + i) whose label changed.
            old: (M,) int64, their previous labels.
        """
        batch, n_points, width = augmented.shape
        dim, k = width - 2, centres.shape[1]
        none = torch.empty(0, dtype=torch.int64, device=augmented.device)
        self.upper += shift.gather(1, self.labels)
        if k == 1:
            return none, none
        self.lower -= _group_reduce(shift, self.group_size, "amax")[:, :, None]
        gaps = torch.cdist(centres, centres, compute_mode="donot_use_mm_for_euclid_dist")
        gaps.diagonal(dim1=1, dim2=2).fill_(math.inf)
        half_gap = 0.5 * gaps.amin(dim=2)  # (B, k)
        bound = torch.maximum(half_gap.gather(1, self.labels), self.lower.amin(dim=1))  # (B, N)
        open_ = self.upper > bound
        if not all(active):
            open_ &= torch.tensor(active, device=open_.device)[:, None]
        ids = open_.view(-1).nonzero().squeeze(1)
        if ids.numel() == 0:
            return none, none

        image = torch.div(ids, n_points, rounding_mode="floor") if batch > 1 else None
        old = self.labels.view(-1).index_select(0, ids)
        rows = augmented.reshape(-1, width).index_select(0, ids)  # (M, d + 2)
        if k > TIGHTEN_FROM_K:
            # the exact distance to the own centre, ||-2 x + 2 c|| / 2, closes many points
            table = 2.0 * centres.reshape(batch * k, dim)
            own = table.index_select(0, old if image is None else image * k + old)  # (M, d)
            exact = own.add_(rows[:, :dim]).square_().sum(dim=1).sqrt_().mul_(0.5)
            self.upper.view(-1).index_copy_(0, ids, exact)
            keep = (exact > bound.view(-1).index_select(0, ids)).nonzero().squeeze(1)
            if keep.numel() == 0:
                return none, none
            if keep.numel() < ids.numel():
                ids, old, rows = ids[keep], old[keep], rows.index_select(0, keep)
                image = None if image is None else image[keep]

        c = _centre_rows(centres, with_one=False)
        sizes = [ids.numel()] if image is None else torch.bincount(image, minlength=batch).tolist()
        new_labels, offset = [], 0
        for b, size in enumerate(sizes):
            if size == 0:
                continue
            part_ids = ids[offset : offset + size] - b * n_points
            part_rows = rows[offset : offset + size]
            offset += size
            found, nearest, lower = _nearest_by_group(part_rows, c[b], self.group_size, chunk_size)
            self.labels[b].index_copy_(0, part_ids, found)
            self.upper[b].index_copy_(0, part_ids, nearest)
            self.lower[b].index_copy_(1, part_ids, lower)
            new_labels.append(found)
        changed = (torch.cat(new_labels) != old).nonzero().squeeze(1)
        return ids[changed], old[changed]


def _group_reduce(values: Tensor, group_size: int, reduce: str) -> Tensor:
    """Reduce (..., k) over consecutive groups of ``group_size``: (..., ceil(k / group_size)).

    ``reduce`` is "amax" or "amin"; the last group may be partial.
    """
    if group_size == 1:
        return values
    k = values.shape[-1]
    full = k // group_size * group_size
    op = torch.amax if reduce == "amax" else torch.amin
    grouped = op(values[..., :full].unflatten(-1, (-1, group_size)), dim=-1)  # (..., k // g)
    if full == k:
        return grouped
    return torch.cat([grouped, op(values[..., full:], dim=-1, keepdim=True)], dim=-1)


def _nearest_by_group(
    rows: Tensor, centre_rows: Tensor, group_size: int, chunk_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Nearest centre of each point, its distance, and the distance to each group's others.

    Args:
        rows: (n, d + 2) augmented points ``[-2 x, 1, ||x||^2]``.
        centre_rows: (k, d + 1) ``[c, ||c||^2]``.
        group_size: g, centres per group.
        chunk_size: points per matmul chunk.

    Returns:
        labels: (n,) int64 in [0, k).
        nearest: (n,) distance to ``centres[labels]``.
        lower: (t, n) distance to the nearest centre of each group other than ``labels``
            (``inf`` for a group holding only that centre).
    """
    n_points, k = rows.shape[0], centre_rows.shape[0]
    width = centre_rows.shape[1]
    labels = torch.empty(n_points, dtype=torch.int64, device=rows.device)
    nearest = rows.new_empty(n_points)
    lower = rows.new_empty(-(-k // group_size), n_points)
    for start in range(0, n_points, chunk_size):
        part = slice(start, start + chunk_size)
        scores = rows[part, :width] @ centre_rows.T  # (n, k): ||c||^2 - 2 x.c
        x_sq = rows[part, width : width + 1]  # (n, 1)
        best = scores.min(dim=1)  # min(dim) is faster than argmin on CPU
        labels[part] = best.indices
        nearest[part] = best.values.add_(x_sq[:, 0]).clamp_min_(0.0).sqrt_()
        scores.scatter_(1, best.indices[:, None], math.inf)
        groups = _group_reduce(scores, group_size, "amin")  # (n, t)
        lower[:, part] = groups.add_(x_sq).clamp_min_(0.0).sqrt_().T
    return labels, nearest, lower


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


def _move_points(
    augmented: Tensor, labels: Tensor, ids: Tensor, old: Tensor, sums: Tensor
) -> list[int]:
    """Move the points ``ids`` (flat ids b * N + i) from cluster ``old`` to their label.

    Args:
        augmented: (B, N, d + 2) rows ``[-2 x, 1, ||x||^2]``.
        labels: (B, N) int64, the new labels.
        ids: (M,) int64 flat point ids; old: (M,) int64 their previous labels.
        sums: (B * k, d + 1) float64 cluster sums, updated in place.

    Returns:
        How many points of each image moved.
    """
    batch, n_points, width = augmented.shape
    if ids.numel() == 0:
        return [0] * batch
    k = sums.shape[0] // batch
    new = labels.view(-1).index_select(0, ids)
    values = augmented.reshape(-1, width).index_select(0, ids)[:, : width - 1].double()
    if batch == 1:
        source, target, counts = old, new, [ids.numel()]
    else:
        image = torch.div(ids, n_points, rounding_mode="floor")
        source, target = image * k + old, image * k + new
        counts = torch.bincount(image, minlength=batch).tolist()
    sums.index_add_(0, source, values, alpha=-1).index_add_(0, target, values)
    return counts


def _relocate_empty(
    augmented: Tensor, centres: Tensor, bounds: _Bounds, sums: Tensor, active: list[bool]
) -> list[int]:
    """Give every empty cluster of an active image one of the points farthest from their centre.

    As scikit-learn's ``_relocate_empty_clusters_dense``; nothing moves when every point sits on
    its centre (fewer distinct points than k). Returns how many points of each image moved.
    """
    batch, _, width = augmented.shape
    dim, k = width - 2, centres.shape[1]
    moved = [0] * batch
    empty = sums.view(batch, k, dim + 1)[:, :, dim] == 0  # (B, k)
    if not all(active):
        empty &= torch.tensor(active, device=empty.device)[:, None]
    if not bool(empty.any()):
        return moved
    for b in empty.any(dim=1).nonzero().squeeze(1).tolist():
        clusters = empty[b].nonzero().squeeze(1)
        labels = bounds.labels[b]
        sq_dist = (augmented[b, :, :dim] + 2.0 * centres[b, labels]).square().sum(dim=1)  # 4 d^2
        if not bool(sq_dist.max() > 0):
            continue
        far = sq_dist.topk(clusters.numel()).indices
        values = augmented[b, far, : dim + 1].double()
        sums.index_add_(0, b * k + labels[far], values, alpha=-1)
        sums[b * k + clusters] = values
        labels[far] = clusters
        bounds.upper[b, far] = 0.0  # the point is its new centre
        bounds.lower[b, :, far] = 0.0
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
