"""The clustered-GP enhancement: shapes, determinism, batching, exactness and gradients."""

from __future__ import annotations

import pytest
import torch

from lowlight.enhance.clustered_gp import GPOptions, clustered_gp_enhance, fit_clustered_gp


def _dark_and_ref(b: int, c: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(b, c, h, w, generator=g)
    return gt**3, gt


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (33, 17)])
@pytest.mark.parametrize(
    "options",
    [GPOptions(k=8), GPOptions(k=8, per_channel=True), GPOptions(k=8, coordinates=True),
     GPOptions(k=8, target="patch"), GPOptions(k=8, patch=5, chunk_pixels=50),
     GPOptions(k=8, inputs="low"), GPOptions(k=8, inputs="ref")],
    ids=["shared", "per-channel", "coordinates", "patch-target", "p5-chunked", "low-inputs", "ref-inputs"],
)
def test_shapes_dtypes_range(size: tuple[int, int], options: GPOptions) -> None:
    low, ref = _dark_and_ref(2, 3, *size)
    out, var = clustered_gp_enhance(low, ref, options, return_variance=True)
    assert out.shape == low.shape and out.dtype == torch.float32
    assert var is not None and var.shape == low.shape
    assert torch.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
    assert (var >= -1e-6).all()


def test_batch_equals_one_by_one_and_is_deterministic() -> None:
    low, ref = _dark_and_ref(3, 3, 20, 24)
    for options in (GPOptions(k=10, cluster_points=300), GPOptions(k=10, per_channel=True, cluster_points=300)):
        batched, _ = clustered_gp_enhance(low, ref, options)
        again, _ = clustered_gp_enhance(low, ref, options)
        assert torch.equal(batched, again)
        for i in range(3):
            single, _ = clustered_gp_enhance(low[i : i + 1], ref[i : i + 1], options)
            torch.testing.assert_close(batched[i : i + 1], single, atol=1e-5, rtol=0)


def test_exact_when_k_covers_every_distinct_pair() -> None:
    # Four flat regions, patch 1: the points are exactly four (low, ref) pairs, so the k = 4
    # centres are those pairs and a near noise-free GP interpolates them.
    low = torch.zeros(1, 1, 8, 8)
    low[..., :4, :4], low[..., :4, 4:], low[..., 4:, :4], low[..., 4:, 4:] = 0.01, 0.05, 0.1, 0.2
    ref = low.sqrt()
    out, var = clustered_gp_enhance(low, ref, GPOptions(k=4, patch=1, noise_fraction=1e-6), return_variance=True)
    torch.testing.assert_close(out, ref, atol=1e-3, rtol=0)
    assert var is not None and var.max() < 1e-4


def test_centre_target_and_patch_target_agree_on_flat_images() -> None:
    low = torch.full((1, 3, 9, 9), 0.04)
    ref = torch.full((1, 3, 9, 9), 0.3)
    with pytest.warns(UserWarning, match="distinct"):
        a, _ = clustered_gp_enhance(low, ref, GPOptions(k=4))
    with pytest.warns(UserWarning, match="distinct"):
        b, _ = clustered_gp_enhance(low, ref, GPOptions(k=4, target="patch"))
    torch.testing.assert_close(a, ref, atol=1e-3, rtol=0)
    torch.testing.assert_close(b, ref, atol=1e-3, rtol=0)


def test_gradients_reach_reference_and_low() -> None:
    low, ref = _dark_and_ref(1, 3, 12, 12)
    low.requires_grad_(True)
    ref.requires_grad_(True)
    out, _ = clustered_gp_enhance(low, ref, GPOptions(k=6))
    out.sum().backward()
    for t in (low, ref):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_fit_reports_one_gp_per_group() -> None:
    low, ref = _dark_and_ref(2, 3, 10, 10)
    shared = fit_clustered_gp(low, ref, GPOptions(k=5, inputs="low"))
    split = fit_clustered_gp(low, ref, GPOptions(k=5, inputs="low", per_channel=True))
    assert shared.state.train_x.shape == (2, 5, 9)
    assert split.state.train_x.shape == (6, 5, 9)
    with_xy = fit_clustered_gp(low, ref, GPOptions(k=5, inputs="low", coordinates=True))
    assert with_xy.state.train_x.shape == (2, 5, 11)
    assert fit_clustered_gp(low, ref, GPOptions(k=5, inputs="pair")).state.train_x.shape == (2, 5, 18)
    assert fit_clustered_gp(low, ref, GPOptions(k=5, inputs="ref")).state.train_x.shape == (2, 5, 9)


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        GPOptions(k=0)
    with pytest.raises(ValueError, match="inputs must be 'low', 'pair' or 'ref', got 'rgb'"):
        GPOptions(inputs="rgb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target must be 'centre' or 'patch', got 'pixel'"):
        GPOptions(target="pixel")  # type: ignore[arg-type]
    low, ref = _dark_and_ref(1, 3, 6, 6)
    with pytest.raises(ValueError, match=r"ref \(1, 3, 5, 6\) does not match low \(1, 3, 6, 6\)"):
        clustered_gp_enhance(low, ref[..., :5, :], GPOptions())
