"""The convolutional prediction against the textbook one: every patch extracted, se_gp_predict, fold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.enhance.clustered_gp import GPOptions, fit_clustered_gp, predict_clustered_gp
from lowlight.enhance.dense_prediction import PatchLayout, predict_dense
from lowlight.gp.exact import se_gp_predict
from lowlight.ops.patches import extract_patches


def _patch_oracle(fit, low: Tensor, ref: Tensor, options: GPOptions) -> tuple[Tensor, Tensor]:
    """Every query built explicitly (patches, coordinates), one se_gp_predict, patch targets folded."""
    b, cc, h, w = low.shape
    groups = low.reshape(b * cc, 1, h, w) if options.per_channel else low
    ref_groups = ref.reshape(b * cc, 1, h, w) if options.per_channel else ref
    g, c = groups.shape[:2]
    p = options.patch
    halves = {"low": [groups], "ref": [ref_groups], "pair": [groups, ref_groups]}[options.inputs]
    parts = [extract_patches(x, (p, p)) for x in halves]  # each (G, c, HW, pq)
    q = torch.cat(parts, dim=-1)  # (G, c, HW, d)
    if options.coordinates:
        rows = torch.arange(h, dtype=low.dtype).repeat_interleave(w) / max(h - 1, 1)
        cols = torch.arange(w, dtype=low.dtype).repeat(h) / max(w - 1, 1)
        coords = torch.stack([rows, cols], -1) * options.coordinate_weight  # (HW, 2)
        q = torch.cat([q, coords.expand(g, c, h * w, 2)], dim=-1)
    mean, var = se_gp_predict(fit.state, q.reshape(g, c * h * w, -1), return_variance=True)
    var = var.view(g, c, h, w)
    if options.target == "centre":
        out = mean.view(g, c, h, w)
    else:
        cols_out = mean.view(g * c, h * w, p * p).transpose(1, 2)  # (Gc, pq, HW)
        folded = F.fold(cols_out, (h + p - 1, w + p - 1), (p, p))
        counts = F.fold(torch.ones(1, p * p, h * w, dtype=low.dtype), (h + p - 1, w + p - 1), (p, p))
        top = (p - 1) // 2
        out = (folded / counts)[..., top : top + h, top : top + w].view(g, c, h, w)
    return out.reshape(b, cc, h, w), var.reshape(b, cc, h, w)


CASES = [
    GPOptions(k=12),  # the shipped layout: pair inputs, patch targets
    GPOptions(k=7, inputs="low", target="centre", patch=5),  # the paper's
    GPOptions(k=9, inputs="ref", per_channel=True, patch=2),  # even patch, per channel
    GPOptions(k=10, coordinates=True, patch=4),
    GPOptions(k=5, patch=1, inputs="pair", target="centre", coordinates=True),
]


@pytest.mark.parametrize("options", CASES, ids=lambda o: f"{o.inputs}-{o.target}-p{o.patch}-pc{int(o.per_channel)}-c{int(o.coordinates)}")
def test_matches_patch_oracle_in_float64(options: GPOptions) -> None:
    gen = torch.Generator().manual_seed(0)
    low = torch.rand(2, 3, 11, 14, generator=gen, dtype=torch.float64) * 0.3
    ref = (low * 2.5 + 0.05 * torch.rand(low.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    fit = fit_clustered_gp(low, ref, options)
    small_chunks = GPOptions(**{**options.__dict__, "chunk_pixels": 20})  # several strips, one row each
    for opts in (options, small_chunks):
        mean, var = predict_clustered_gp(fit, low, opts, return_variance=True, ref=ref)
        want_mean, want_var = _patch_oracle(fit, low, ref, opts)
        torch.testing.assert_close(mean, want_mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(var, want_var, rtol=0, atol=1e-10)


def test_float32_matches_float64_and_predicts_larger_images_than_the_fit() -> None:
    gen = torch.Generator().manual_seed(1)
    small = torch.rand(1, 3, 16, 16, generator=gen) * 0.25
    ref_small = (small * 3).clamp(0, 1)
    options = GPOptions(k=16)
    fit = fit_clustered_gp(small, ref_small, options)
    big = F.interpolate(small, size=(40, 37), mode="bilinear")
    ref_big = (big * 3).clamp(0, 1)
    mean32, _ = predict_clustered_gp(fit, big, options, ref=ref_big)
    mean64, _ = _patch_oracle(fit, big.double(), ref_big.double(), options)
    assert mean32.shape == (1, 3, 40, 37) and mean32.dtype == torch.float32
    torch.testing.assert_close(mean32.double(), mean64, rtol=0, atol=2e-5)


@pytest.mark.parametrize("coordinates", [False, True])
def test_gradcheck_through_the_images_and_the_fit(coordinates: bool) -> None:
    gen = torch.Generator().manual_seed(2)
    low = (torch.rand(1, 2, 6, 5, generator=gen, dtype=torch.float64) * 0.4).requires_grad_()
    ref = (torch.rand(1, 2, 6, 5, generator=gen, dtype=torch.float64) * 0.8).requires_grad_()
    options = GPOptions(k=4, coordinates=coordinates)
    fit = fit_clustered_gp(low.detach(), ref.detach(), options)
    alpha = fit.state.alpha.detach().requires_grad_()
    train_x = fit.state.train_x.detach().requires_grad_()

    def run(low_: Tensor, ref_: Tensor, alpha_: Tensor, train_x_: Tensor) -> Tensor:
        fit.state.alpha, fit.state.train_x = alpha_, train_x_
        return predict_clustered_gp(fit, low_, options, return_variance=True, ref=ref_)[0]

    assert torch.autograd.gradcheck(run, (low, ref, alpha, train_x), eps=1e-6, atol=1e-6, fast_mode=True)


def test_errors_name_the_mismatch() -> None:
    low = torch.rand(1, 3, 8, 8)
    fit = fit_clustered_gp(low, low, GPOptions(k=4))
    with pytest.raises(ValueError, match=r"needs ref of shape \(1, 3, 8, 8\), got \(1, 3, 4, 4\)"):
        predict_clustered_gp(fit, low, GPOptions(k=4), ref=low[..., :4, :4])
    with pytest.raises(ValueError, match="the fit holds 1 GP"):
        predict_clustered_gp(fit, torch.rand(2, 3, 8, 8), GPOptions(k=4), ref=torch.rand(2, 3, 8, 8))
    layout = PatchLayout(patch=3, halves=2, coordinates=False, coordinate_weight=0.5, patch_target=True)
    with pytest.raises(ValueError, match="needs 2 source image"):
        predict_dense(fit.state, [low], layout)
    with pytest.raises(ValueError, match="strip_queries must be >= 1, got 0"):
        predict_dense(fit.state, [low, low], layout, strip_queries=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu_at_working_resolution() -> None:
    from lowlight.enhance.enhancer import Enhancer, EnhancerConfig

    gen = torch.Generator().manual_seed(3)
    dark = (F.interpolate(torch.rand(2, 3, 12, 20, generator=gen), size=(300, 500), mode="bicubic") * 0.2).clamp(0, 1)
    config = EnhancerConfig(gp=GPOptions(k=16), work_size=128)
    with torch.inference_mode():
        cpu = Enhancer.from_checkpoint(config)(dark, return_std=True)
        gpu = Enhancer.from_checkpoint(config, device="cuda")(dark.cuda(), return_std=True)
    assert gpu.image.is_cuda and gpu.image.shape == (2, 3, 300, 500)
    torch.testing.assert_close(gpu.image.cpu(), cpu.image, rtol=0, atol=2e-3)
    torch.testing.assert_close(gpu.std.cpu(), cpu.std, rtol=0, atol=2e-3)  # type: ignore[union-attr]
