"""Batched k-means++ against scikit-learn, float64 references and hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lowlight.bench.kmeans import photo_patch_points
from lowlight.cluster.kmeans import _sums_by_index, _sums_by_one_hot, assign, cluster_means, kmeans, kmeans_plusplus

sklearn_cluster = pytest.importorskip("sklearn.cluster")
threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One thread for torch and sklearn: these small problems gain nothing from more, and on a
    shared 2-core machine two threads per library oversubscribe it badly."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpoolctl.threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def photo_points() -> torch.Tensor:
    """(1, 4096, 18) float32: dark/bright 3 x 3 luma patches of astronaut at 64 x 64."""
    return photo_patch_points("astronaut", side=64, channels=1)


@pytest.fixture(scope="module")
def three_photos() -> torch.Tensor:
    """(3, 1024, 18) float32: the same points for three photos at 32 x 32."""
    names = ("astronaut", "coffee", "chelsea")
    return torch.cat([photo_patch_points(name, side=32, channels=1) for name in names])


def _blobs(n_blobs: int, per_blob: int, dim: int, spread: float, seed: int) -> torch.Tensor:
    """(1, n_blobs * per_blob, dim) float64 Gaussian blobs whose centres are >= 10 apart."""
    gen = _gen(seed)
    centres = 10.0 * torch.eye(n_blobs, dim, dtype=torch.float64)
    noise = spread * torch.randn(n_blobs, per_blob, dim, generator=gen, dtype=torch.float64)
    return (centres[:, None, :] + noise).reshape(1, -1, dim)


class _ReplayedDraws:
    """A numpy ``RandomState`` stand-in serving our documented draws to scikit-learn."""

    def __init__(self, first: int, uniforms: np.ndarray) -> None:
        self.first, self.uniforms, self.step = first, uniforms, 0

    def choice(self, n_samples: int, p: np.ndarray) -> int:
        return self.first

    def uniform(self, size: int) -> np.ndarray:
        row = self.uniforms[self.step]
        self.step += 1
        assert row.shape == (size,)
        return row


# ----------------------------------------------------------------------------- against sklearn


def test_inertia_within_one_percent_of_sklearn_on_photo_patches(photo_points):
    data = photo_points[0].double().numpy()
    ours, theirs = [], []
    for seed in range(5):
        result = kmeans(photo_points, 20, generator=_gen(seed))
        ours.append(float(result.inertia[0]))
        fit = sklearn_cluster.KMeans(20, init="k-means++", n_init=1, random_state=seed).fit(data)
        theirs.append(fit.inertia_)
    assert np.mean(ours) <= 1.01 * np.mean(theirs)
    # the reported inertia is that of the returned centres and labels
    ref = ((photo_points[0].double() - result.centres[0].double()[result.labels[0]]) ** 2).sum()
    assert float(result.inertia[0]) == pytest.approx(float(ref), rel=1e-5)


@pytest.mark.parametrize("k", [15, 40])
def test_lloyd_matches_sklearn_from_the_same_seeds(photo_points, k):
    x = photo_points.double()
    seeds, _ = kmeans_plusplus(x, k, generator=_gen(3))
    result = kmeans(x, k, init=seeds)
    fit = sklearn_cluster.KMeans(k, init=seeds[0].numpy(), n_init=1, algorithm="lloyd")
    fit.fit(x[0].numpy())
    assert int(result.n_iter[0]) == fit.n_iter_
    np.testing.assert_array_equal(result.labels[0].numpy(), fit.labels_)
    np.testing.assert_allclose(result.centres[0].numpy(), fit.cluster_centers_, atol=1e-10)
    assert float(result.inertia[0]) == pytest.approx(fit.inertia_, rel=1e-10)


def test_empty_cluster_relocated_like_sklearn():
    x = _blobs(3, 50, 2, 0.5, seed=1)
    init = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [500.0, 500.0]]], dtype=x.dtype)
    result = kmeans(x, 4, init=init)
    fit = sklearn_cluster.KMeans(4, init=init[0].numpy(), n_init=1, algorithm="lloyd")
    fit.fit(x[0].numpy())
    assert (result.labels[0] == 3).any()  # the far centre was given a point, never left empty
    np.testing.assert_array_equal(result.labels[0].numpy(), fit.labels_)
    np.testing.assert_allclose(result.centres[0].numpy(), fit.cluster_centers_, atol=1e-10)


def test_seeding_replays_sklearn_with_the_same_draws(photo_points):
    from sklearn.cluster._kmeans import _kmeans_plusplus

    x = photo_points.double()
    k, trials = 12, 2 + int(np.log(12))
    for seed in range(3):
        _, indices = kmeans_plusplus(x, k, generator=_gen(seed))
        gen = _gen(seed)  # the documented draw order: first centre, then the uniforms
        first = int(torch.randint(x.shape[1], (1,), generator=gen))
        uniforms = torch.rand(k - 1, trials, generator=gen, dtype=torch.float64).numpy()
        data = x[0].numpy()
        _, expected = _kmeans_plusplus(
            data, k, (data**2).sum(1), np.ones(len(data)), _ReplayedDraws(first, uniforms)
        )
        np.testing.assert_array_equal(indices[0].numpy(), expected)


def test_seeding_puts_one_centre_in_every_blob():
    x = _blobs(6, 40, 6, 0.3, seed=0)
    for seed in range(5):
        centres, indices = kmeans_plusplus(x, 6, generator=_gen(seed))
        assert torch.equal(centres, x[0, indices[0]][None])
        assert sorted((indices[0] // 40).tolist()) == list(range(6))


# ----------------------------------------------------------------------------- batching, randomness


@pytest.mark.parametrize(("k", "subsample"), [(8, None), (8, 300), (24, None)])
def test_batched_equals_per_image_loop(three_photos, k, subsample):
    batched = kmeans(three_photos, k, subsample=subsample, generator=_gen(7))
    assert len(set(batched.n_iter.tolist())) > 1  # images stop at different iterations
    gen = _gen(7)
    for b in range(3):
        alone = kmeans(three_photos[b : b + 1], k, subsample=subsample, generator=gen)
        assert torch.equal(alone.labels[0], batched.labels[b])
        torch.testing.assert_close(alone.centres[0], batched.centres[b], rtol=0, atol=1e-6)
        torch.testing.assert_close(alone.inertia[0], batched.inertia[b], rtol=1e-6, atol=0)
        assert alone.n_iter[0] == batched.n_iter[b]


def test_deterministic_for_a_seed(three_photos):
    first = kmeans(three_photos, 6, subsample=500, generator=_gen(11))
    second = kmeans(three_photos, 6, subsample=500, generator=_gen(11))
    assert torch.equal(first.centres, second.centres) and torch.equal(first.labels, second.labels)


def test_subsample_fits_some_points_and_labels_all(photo_points):
    result = kmeans(photo_points, 10, subsample=1000, generator=_gen(0))
    labels, sq_dist = assign(photo_points, result.centres)
    assert torch.equal(result.labels, labels)
    torch.testing.assert_close(result.inertia, sq_dist.double().sum(1), rtol=1e-5, atol=0)
    # a subsample at least N means all points, with the same draws as no subsample
    whole = kmeans(photo_points, 10, generator=_gen(0))
    same = kmeans(photo_points, 10, subsample=10**6, generator=_gen(0))
    assert torch.equal(whole.labels, same.labels)


def test_labels_match_the_returned_centres_when_stopped_early(photo_points):
    result = kmeans(photo_points, 12, max_iter=2, generator=_gen(2))
    assert int(result.n_iter[0]) == 2
    labels, sq_dist = assign(photo_points, result.centres)
    assert torch.equal(result.labels, labels)
    torch.testing.assert_close(result.inertia, sq_dist.double().sum(1), rtol=1e-5, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("generator_device", ["cpu", "cuda"])
def test_cuda_runs_and_follows_the_generator(three_photos, generator_device):
    points = three_photos.double().cuda()
    gen = torch.Generator(device=generator_device).manual_seed(4)
    result = kmeans(points, 12, subsample=700, generator=gen)
    assert result.centres.device.type == "cuda" and result.labels.device.type == "cuda"
    labels, sq_dist = assign(points, result.centres)
    assert torch.equal(result.labels, labels)
    torch.testing.assert_close(result.inertia, sq_dist.sum(1), rtol=1e-9, atol=0)
    if generator_device == "cpu":  # the same draws as on the CPU, so the same clustering
        on_cpu = kmeans(three_photos.double(), 12, subsample=700, generator=_gen(4))
        assert torch.equal(on_cpu.labels, result.labels.cpu())


# ----------------------------------------------------------------------------- edge cases


def test_flat_image_warns_and_stays_finite():
    x = torch.zeros(1, 100, 18)
    with pytest.warns(UserWarning, match=r"only 1 distinct centres for k=5 \(1 distinct points"):
        result = kmeans(x, 5, generator=_gen(0))
    assert result.centres.shape == (1, 5, 18) and torch.isfinite(result.centres).all()
    assert torch.equal(result.centres, torch.zeros(1, 5, 18))
    assert float(result.inertia[0]) == 0.0 and (result.labels == 0).all()


def test_duplicates_fewer_than_k_keep_every_distinct_point():
    values = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    x = values.repeat(20, 1)[None]  # (1, 60, 2), 3 distinct points
    with pytest.warns(UserWarning, match=r"only 3 distinct centres for k=5 \(3 distinct points"):
        result = kmeans(x, 5, generator=_gen(1))
    assert torch.isfinite(result.centres).all()
    assert torch.equal(torch.unique(result.centres[0], dim=0), torch.unique(values, dim=0))
    assert float(result.inertia[0]) == 0.0


def test_k_equal_one_gives_the_mean():
    x = torch.randn(2, 50, 3, generator=_gen(2), dtype=torch.float64)
    result = kmeans(x, 1, generator=_gen(0))
    torch.testing.assert_close(result.centres, x.mean(1, keepdim=True))
    torch.testing.assert_close(result.inertia, ((x - x.mean(1, keepdim=True)) ** 2).sum((1, 2)))
    assert (result.labels == 0).all()


def test_k_equal_n_puts_a_centre_on_every_point():
    x = torch.randn(1, 9, 4, generator=_gen(3), dtype=torch.float64)
    result = kmeans(x, 9, generator=_gen(0))
    assert float(result.inertia[0]) == pytest.approx(0.0, abs=1e-20)
    torch.testing.assert_close(result.centres[0, result.labels[0]], x[0], rtol=0, atol=1e-12)
    assert torch.unique(result.labels).numel() == 9


def test_chunked_distances_equal_unchunked(three_photos):
    whole = kmeans(three_photos, 9, generator=_gen(5), chunk_size=10**6)
    chunked = kmeans(three_photos, 9, generator=_gen(5), chunk_size=37)
    assert torch.equal(whole.labels, chunked.labels)
    torch.testing.assert_close(whole.centres, chunked.centres, rtol=0, atol=1e-6)
    labels, sq_dist = assign(three_photos, whole.centres, chunk_size=10**6)
    labels_chunked, sq_dist_chunked = assign(three_photos, whole.centres, chunk_size=37)
    assert torch.equal(labels, labels_chunked) and torch.equal(sq_dist, sq_dist_chunked)


def test_large_offset_is_handled_by_centring():
    x = _blobs(4, 60, 5, 0.05, seed=4).float() * 0.1  # blobs 1 apart, spread 0.005
    offset = 1e4
    plain = kmeans(x, 4, generator=_gen(0))
    shifted = kmeans(x + offset, 4, generator=_gen(0))
    assert torch.equal(plain.labels, shifted.labels)
    assert sorted((plain.labels[0].view(4, 60)[:, 0]).tolist()) == [0, 1, 2, 3]
    torch.testing.assert_close(shifted.centres - offset, plain.centres, rtol=0, atol=2e-3)
    # the inertia is measured from the differences, so it keeps its order of magnitude
    assert float(shifted.inertia[0]) == pytest.approx(float(plain.inertia[0]), rel=0.5)


# ----------------------------------------------------------------------------- helpers


def test_assign_matches_a_float64_brute_force():
    gen = _gen(8)
    x = torch.rand(2, 300, 6, generator=gen)
    c = torch.rand(2, 7, 6, generator=gen)
    labels, sq_dist = assign(x, c, chunk_size=64)
    ref = torch.cdist(x.double(), c.double()) ** 2  # (B, N, k)
    assert torch.equal(labels, ref.argmin(2))
    torch.testing.assert_close(sq_dist.double(), ref.amin(2), rtol=1e-5, atol=1e-6)


def test_cluster_means_matches_a_loop_and_falls_back_when_empty():
    gen = _gen(9)
    x = torch.randn(2, 40, 3, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 40), generator=gen)
    labels[1][labels[1] == 2] = 0  # cluster 2 of image 1 is empty
    means = cluster_means(x, labels, 4)
    for b in range(2):
        for j in range(4):
            members = x[b][labels[b] == j]
            expected = members.mean(0) if len(members) else x[b].mean(0)
            torch.testing.assert_close(means[b, j], expected)
    fallback = torch.full((2, 4, 3), -7.0, dtype=torch.float64)
    assert (cluster_means(x, labels, 4, fallback)[1, 2] == -7.0).all()


def test_cluster_means_gradcheck():
    gen = _gen(10)
    x = torch.randn(2, 12, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 3, (2, 12), generator=gen)
    labels[0][labels[0] == 1] = 0  # one empty cluster uses the differentiable fallback
    assert torch.autograd.gradcheck(lambda p: cluster_means(p, labels, 3), (x,))


def test_one_hot_sums_equal_index_sums_and_are_differentiable():
    """The GPU's cluster sums (a one-hot product: the same bits every run, unlike CUDA's atomic
    index_add) against the CPU's index_add, with an empty cluster."""
    gen = _gen(11)
    x = torch.randn(3, 50, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (3, 50), generator=gen)
    labels[2][labels[2] == 4] = 1
    flat = (labels + 5 * torch.arange(3)[:, None]).reshape(-1)
    by_index = _sums_by_index(x, flat, 5)
    by_one_hot = _sums_by_one_hot(x, labels, 5)
    torch.testing.assert_close(by_one_hot, by_index, rtol=1e-12, atol=1e-12)
    assert (by_one_hot[2, 4] == 0).all()
    assert torch.autograd.gradcheck(lambda p: _sums_by_one_hot(p, labels, 5), (x,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cluster_means_give_the_same_bits_on_every_cuda_run(three_photos):
    points = three_photos.float().cuda()
    labels = kmeans(points, 16, generator=_gen(5)).labels
    first = cluster_means(points, labels, 16)
    for _ in range(5):
        assert torch.equal(cluster_means(points, labels, 16), first)


# ----------------------------------------------------------------------------- errors


def test_error_paths():
    x = torch.rand(1, 10, 2)
    with pytest.raises(ValueError, match=r"expected \(B, N, d\).*got \(10, 2\)"):
        kmeans(x[0], 2)
    with pytest.raises(ValueError, match=r"expected \(B, N, d\).*got \(0, 10, 2\)"):
        kmeans(x[:0], 2)
    with pytest.raises(TypeError, match="floating"):
        kmeans(torch.ones(1, 10, 2, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        kmeans(x, 0)
    with pytest.raises(ValueError, match=r"k=11 exceeds the number of points to fit \(N=10\)"):
        kmeans(x, 11)
    with pytest.raises(ValueError, match=r"k=6 exceeds .*\(subsample=5\)"):
        kmeans(x, 6, subsample=5)
    with pytest.raises(ValueError, match=r"init: expected \(B, k, d\) = \(1, 3, 2\)"):
        kmeans(x, 3, init=torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        kmeans(x, 2, max_iter=0)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        kmeans(x, 2, tol=-1.0)
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        assign(x, x[:, :2], chunk_size=0)
    with pytest.raises(ValueError, match=r"centres: expected \(B, k, d\)"):
        assign(x, torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, k=2\), got values in \[0, 2\]"):
        cluster_means(x, torch.tensor([[0, 1, 2] + [0] * 7]), 2)
    with pytest.raises(ValueError, match="labels: expected int64"):
        cluster_means(x, torch.zeros(1, 10, dtype=torch.int32), 2)
