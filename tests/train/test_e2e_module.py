"""End-to-end training through the GP: the learned GP head, the Lightning module, the export."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from lowlight.archs import GPECNN, CurveNet
from lowlight.enhance.checkpoints import load_reference_cnn, save_reference_cnn
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.metrics.quality import ssim_per_image
from lowlight.train import EndToEndModule
from lowlight.enhance.clustered_gp import (
    GPOptions,
    clustered_gp_enhance,
    fit_clustered_gp,
    gp_training_data,
    initialise_from_heuristic,
)
from lowlight.gp.learnable import CHECKPOINT_TENSORS, LearnedHyperparameters, learned_se_hyperparameters


def _pair(b: int, c: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(dark, bright): a smooth random bright image in [0.15, 0.85] and its cube."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, c, max(2, h // 3), max(2, w // 3), generator=g)
    bright = 0.15 + 0.7 * nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)
    return bright**3, bright


def _tiny_curve_net() -> CurveNet:
    net = CurveNet(thumbnail=16, width=8, refine_width=8)
    torch.manual_seed(0)
    # the shipped init zeroes the output layers (an identity-like start), which blocks every
    # gradient behind them; small random values let the test see gradients reach all weights
    for layer in (net.coefficients, net.refine[-1]):
        nn.init.normal_(layer.weight, std=0.05)
        nn.init.normal_(layer.bias, std=0.05)
    return net


def _module(mode: str = "cm", per_channel: bool = True, **kwargs: object) -> EndToEndModule:
    net = _tiny_curve_net() if mode == "cm" else GPECNN()
    gp = GPOptions(k=8, per_channel=per_channel, cluster_points=None)
    return EndToEndModule(mode=mode, net=net, gp=gp, k_train=6, train_cluster_points=None,
                          sift_images=0, k_sweep=(), **kwargs)  # type: ignore[arg-type]


def _set_offsets(layer: LearnedHyperparameters, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=g))


# ----------------------------------------------------------------------------- the GP head


@pytest.mark.parametrize(("per_channel", "inputs"), [(False, "low"), (True, "low"), (False, "pair")])
def test_zero_relative_offsets_reproduce_the_two_stage_pipeline(per_channel: bool, inputs: str) -> None:
    low, ref = _pair(2, 3, 14, 12)
    options = GPOptions(k=7, per_channel=per_channel, cluster_points=200, inputs=inputs)  # type: ignore[arg-type]
    expected, expected_var = clustered_gp_enhance(low, ref, options, return_variance=True)
    layer = LearnedHyperparameters(3 if per_channel else 1, "relative")
    out, var = clustered_gp_enhance(low, ref, options, return_variance=True, learned=layer)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert var is not None and expected_var is not None
    torch.testing.assert_close(var, expected_var, atol=1e-6, rtol=1e-4)


def test_learned_hyperparameters_match_closed_forms() -> None:
    g = torch.Generator().manual_seed(0)
    train_x = torch.rand(6, 5, 4, generator=g, dtype=torch.float64)
    train_y = torch.rand(6, 5, 2, generator=g, dtype=torch.float64)
    log_l = torch.tensor([[0.2], [-0.4], [0.1]], dtype=torch.float64)
    log_s = torch.tensor([0.5, -0.1, 0.3], dtype=torch.float64)
    log_n = torch.tensor([-1.0, 0.7, 0.0], dtype=torch.float64)
    relative = learned_se_hyperparameters(train_x, train_y, log_l, log_s, log_n, "relative", noise_fraction=0.05)
    absolute = learned_se_hyperparameters(train_x, train_y, log_l, log_s, log_n, "absolute")
    for b in range(6):
        group = b % 3
        distances = torch.pdist(train_x[b]).sort().values  # 10 pairs
        median = distances[(distances.numel() - 1) // 2]  # the lower median, as the heuristic
        variance = (train_y[b] - train_y[b].mean(0)).square().mean()
        expected_l = median * math.exp(log_l[group, 0])
        expected_s = variance * math.exp(log_s[group])
        expected_n = 0.05 * variance * math.exp(log_n[group])
        torch.testing.assert_close(relative.lengthscale[b, 0], expected_l)
        torch.testing.assert_close(relative.signal_variance[b], expected_s)
        torch.testing.assert_close(relative.noise_variance[b], expected_n)
        torch.testing.assert_close(absolute.lengthscale[b, 0], log_l[group, 0].exp())
        torch.testing.assert_close(absolute.noise_variance[b], log_n[group].exp())
        for hp in (relative, absolute):
            torch.testing.assert_close(hp.mean[b], train_y[b].mean(0))


class _Head(nn.Module):
    """The clustered GP as a module of its learned hyperparameters (for ``functional_call``)."""

    def __init__(self, layer: LearnedHyperparameters) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, low: torch.Tensor, ref: torch.Tensor, options: GPOptions, variance: bool):
        return clustered_gp_enhance(low, ref, options, variance, self.layer)


def _head_function(layer: LearnedHyperparameters, low: torch.Tensor, options: GPOptions, variance: bool):
    head = _Head(layer)

    def run(ref: torch.Tensor, log_l: torch.Tensor, log_s: torch.Tensor, log_n: torch.Tensor,
            low_input: torch.Tensor = low) -> tuple[torch.Tensor, ...]:
        params = {"layer.log_lengthscale": log_l, "layer.log_signal_variance": log_s,
                  "layer.log_noise_variance": log_n}
        mean, var = torch.func.functional_call(head, params, (low_input, ref, options, variance))
        return (mean, var) if variance else (mean,)

    return run


def test_head_gradcheck_float64_relative() -> None:
    # Relative: the heuristic is a constant of the data (no gradient, as in the pipeline). With
    # the low-light patch as the only GP input the heuristic does not depend on ref, so the
    # posterior mean is differentiable in ref and in the three offsets (signal and noise through
    # their ratio), and the finite differences see the same function.
    low, ref = (t.double() for t in _pair(1, 1, 5, 4))
    options = GPOptions(k=4, cluster_points=None, kmeans_max_iter=5, inputs="low", target="centre")
    layer = LearnedHyperparameters(1, "relative").double()
    _set_offsets(layer)
    inputs = (ref.clone().requires_grad_(True),
              *(p.detach().clone().requires_grad_(True) for p in layer.parameters()))
    assert torch.autograd.gradcheck(_head_function(layer, low, options, variance=False), inputs)


def test_head_gradcheck_float64_absolute_with_variance() -> None:
    low, ref = (t.double() for t in _pair(1, 2, 4, 4, seed=3))
    options = GPOptions(k=4, per_channel=True, cluster_points=None, kmeans_max_iter=5)
    layer = LearnedHyperparameters(2, "absolute").double()
    initialise_from_heuristic(layer, low, ref, options)
    run = _head_function(layer, low, options, variance=True)
    inputs = (ref.clone().requires_grad_(True),
              *(p.detach().clone().requires_grad_(True) for p in layer.parameters()),
              low.clone().requires_grad_(True))
    # fast mode (random projections of the Jacobian) keeps this under a second; the relative
    # test above checks every entry
    assert torch.autograd.gradcheck(run, inputs, fast_mode=True)


def test_absolute_initialisation_is_the_per_group_median_of_the_heuristic() -> None:
    low, ref = _pair(3, 3, 12, 12, seed=5)
    options = GPOptions(k=6, per_channel=True, cluster_points=None)
    layer = LearnedHyperparameters(3, "absolute")
    assert not bool(layer.initialised)
    with pytest.raises(RuntimeError, match="initialise_from_heuristic"):
        clustered_gp_enhance(low, ref, options, learned=layer)
    initialise_from_heuristic(layer, low, ref, options)
    heuristic = fit_clustered_gp(low, ref, options).state.hyperparameters  # (9,) GPs, float64
    logs = [t.log().reshape(3, 3, -1) for t in (heuristic.lengthscale, heuristic.signal_variance,
                                               heuristic.noise_variance)]  # (image, channel, 1)
    for parameter, values in zip(layer.parameters(), logs, strict=True):
        expected = values.median(dim=0).values.reshape(parameter.shape).float()
        torch.testing.assert_close(parameter.detach(), expected, atol=1e-5, rtol=1e-5)
    out, _ = clustered_gp_enhance(low, ref, options, learned=layer)
    assert torch.isfinite(out).all()


def test_gp_training_data_splits_centres_like_the_pipeline() -> None:
    low, ref = _pair(2, 1, 10, 10)
    for options in (GPOptions(k=5, coordinates=True), GPOptions(k=5, target="patch"),
                    GPOptions(k=5, inputs="pair", coordinates=True), GPOptions(k=5, inputs="ref")):
        fit = fit_clustered_gp(low, ref, options)
        train_x, train_y = gp_training_data(fit.centres, options)
        torch.testing.assert_close(train_x.double(), fit.state.train_x)
        expected_out = 9 if options.target == "patch" else 1
        assert train_y.shape == (2, 5, expected_out)
        torch.testing.assert_close(train_y.mean(1).double(), fit.state.hyperparameters.mean)


def test_head_errors_name_the_bad_value() -> None:
    x, y = torch.rand(4, 3, 2), torch.rand(4, 3, 1)
    ok = (torch.zeros(2, 1), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="not a multiple"):
        learned_se_hyperparameters(torch.rand(3, 3, 2), torch.rand(3, 3, 1), *ok)
    with pytest.raises(ValueError, match=r"log_lengthscale \(n, 1\)"):
        learned_se_hyperparameters(x, y, torch.zeros(2), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="parametrisation"):
        learned_se_hyperparameters(x, y, *ok, parametrisation="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_groups"):
        LearnedHyperparameters(0)
    low, ref = _pair(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"3 learned hyperparameter group\(s\).*1 GP\(s\) per image"):
        clustered_gp_enhance(low, ref, GPOptions(k=4, per_channel=False), learned=LearnedHyperparameters(3))


# ----------------------------------------------------------------------------- the module


@pytest.mark.parametrize(("mode", "per_channel"), [("cm", True), ("cm", False), ("lm", False)])
def test_gradients_reach_the_cnn_and_every_hyperparameter(mode: str, per_channel: bool) -> None:
    module = _module(mode, per_channel)
    lq, gt = _pair(2, 3, 24, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer
        loss = module.training_step({"lq": lq, "gt": gt, "path": ["a", "b"]}, 0)
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    assert len(list(module.gp_layer.parameters())) == 3
    assert module.gp_layer.log_lengthscale.shape == (3 if per_channel else 1, 1)


def test_training_stays_finite_on_flat_images_in_float32() -> None:
    # every patch pair equal: all k centres coincide, the kernel matrix is rank one and only the
    # noise (and the Cholesky's jitter) keeps the float64 solve finite
    module = _module("cm", per_channel=False, parametrisation="absolute")
    lq = torch.full((2, 3, 16, 16), 0.05)
    gt = torch.full((2, 3, 16, 16), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = module.training_step({"lq": lq, "gt": gt, "path": ["a", "b"]}, 0)
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name


def test_training_uses_k_train_and_validation_the_shipped_k(monkeypatch: pytest.MonkeyPatch) -> None:
    from lowlight.enhance import enhancer as enhancer_module

    module = _module("lm")
    seen: list[int] = []
    original = enhancer_module.fit_clustered_gp

    def spy(low: torch.Tensor, ref: torch.Tensor, options: GPOptions, *args: object):  # noqa: ANN202
        seen.append(options.k)
        return original(low, ref, options, *args)

    monkeypatch.setattr(enhancer_module, "fit_clustered_gp", spy)
    lq, gt = _pair(1, 3, 20, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.training_step({"lq": lq, "gt": gt, "path": ["a"]}, 0)
        module.eval()
        with torch.no_grad():
            module.validation_step({"lq": lq, "gt": gt, "path": ["a"]}, 0)
    assert seen == [6, 8]
    assert module.enhancer.config.gp.k == 8  # restored after the training step


def test_export_round_trips_through_enhancer_from_checkpoint(tmp_path: Path) -> None:
    trained = GPOptions(k=8, per_channel=True, cluster_points=None, inputs="low", target="centre")
    module = EndToEndModule(mode="cm", net=_tiny_curve_net(), gp=trained, sift_images=0, k_sweep=()).eval()
    _set_offsets(module.gp_layer)
    path = tmp_path / "e2e_cm.safetensors"
    module.export_safetensors(path, {"note": "test"})
    loaded = load_reference_cnn(path)
    assert set(CHECKPOINT_TENSORS) <= set(loaded.extra)
    assert loaded.metadata["gp.parametrisation"] == "relative" and loaded.metadata["note"] == "test"
    # the GP layout comes from the checkpoint (three groups, inputs, target), k and seed from the caller
    requested = GPOptions(k=8, cluster_points=None, inputs="pair", target="patch", seed=0)
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(mode="cm", gp=requested), path)
    assert enhancer.learned_gp is not None
    assert enhancer.config.gp == trained
    lq, _ = _pair(1, 3, 20, 20)
    with torch.no_grad():
        expected, _, _ = module(lq)
        got = enhancer(lq).image
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    # and the learned offsets matter: the plain enhancer on the same CNN differs
    plain = Enhancer(enhancer.net, replace(enhancer.config))
    with torch.no_grad():
        assert (plain(lq).image - got).abs().max() > 1e-4


def test_plain_checkpoint_keeps_the_heuristic_and_restarts_e2e(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_reference_cnn(GPECNN(), path, "y")
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(mode="lm"), path)
    assert enhancer.learned_gp is None
    module = EndToEndModule(mode="lm", checkpoint=path, gp=GPOptions(k=8))
    assert bool(module.gp_layer.initialised) and module.gp_layer.parametrisation == "relative"
    assert all(float(p.detach().abs().sum()) == 0.0 for p in module.gp_layer.parameters())


def test_module_and_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checkpoint .* or net"):
        EndToEndModule(mode="cm")
    with pytest.raises(ValueError, match="k_train"):
        EndToEndModule(mode="cm", net=_tiny_curve_net(), k_train=0)
    path = tmp_path / "partial.safetensors"
    save_reference_cnn(GPECNN(), path, "y", extra={"gp.log_lengthscale": torch.zeros(1, 1)})
    with pytest.raises(ValueError, match="misses"):
        Enhancer.from_checkpoint(EnhancerConfig(mode="lm"), path)
    grouped = tmp_path / "grouped.safetensors"
    module = _module("cm", per_channel=True)
    module.export_safetensors(grouped)
    with pytest.raises(ValueError, match=r"3 GP hyperparameter group\(s\)"):
        EndToEndModule(mode="cm", checkpoint=grouped, gp=GPOptions(per_channel=False))


def test_k_sweep_rows_cover_every_k() -> None:
    module = _module("cm", per_channel=False).eval()
    module.k_sweep = (2, 5)
    lq, gt = _pair(2, 3, 24, 24)
    rows = module.k_sweep_rows(lq, gt)
    assert [row[0] for row in rows] == [2.0, 5.0]
    for _, psnr, ssim, f1, ms in rows:
        assert math.isfinite(psnr) and -1 <= ssim <= 1 and 0 <= f1 <= 1 and ms > 0


def test_compare_command_writes_a_row_per_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lowlight.evaluation.compare_checkpoints import main as compare
    from tests.images import write_images

    write_images(tmp_path / "photos", 1, size=(48, 40))
    plain = tmp_path / "plain.safetensors"
    save_reference_cnn(_tiny_curve_net(), plain, "rgb")
    learned = tmp_path / "learned.safetensors"
    module = _module("cm", per_channel=False)
    _set_offsets(module.gp_layer)
    module.export_safetensors(learned)
    out = tmp_path / "out"
    status = compare(["--images", str(tmp_path / "photos"), "--model", "two-stage", "cm", str(plain),
                      "--model", "e2e", "cm", str(learned), "--k", "4", "--versions", "1",
                      "--time-calls", "0", "--no-progress", "--out", str(out)])
    assert status == 0
    table = (out / "results.md").read_text()
    assert "| two-stage |" in table and "| e2e |" in table
    assert compare(["--images", str(tmp_path / "photos"), "--model", "x", "rgb", str(plain)]) == 2
    assert "mode must be cm or lm" in capsys.readouterr().err


def test_stored_options_ignore_unknown_fields_and_follow_the_groups() -> None:
    from lowlight.enhance.checkpoints import options_for_checkpoint, stored_gp_options

    metadata = {"gp.options": json.dumps({"k": 50, "target": "centre", "patch": 5, "retired_option": 1})}
    stored = stored_gp_options(metadata)
    assert stored is not None and stored.k == 50 and stored.patch == 5
    merged = options_for_checkpoint(GPOptions(k=12, seed=3), LearnedHyperparameters(3), metadata)
    assert (merged.k, merged.seed, merged.patch, merged.target, merged.per_channel) == (12, 3, 5, "centre", True)
    assert options_for_checkpoint(GPOptions(k=12), LearnedHyperparameters(1), {}) == GPOptions(k=12)


def test_ssim_term_adds_one_minus_ssim() -> None:
    plain, weighted = _module(), _module(ssim_weight=0.5)
    _, gt = _pair(2, 3, 24, 24)
    noisy = (gt + 0.1 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    assert float(weighted._loss(gt, gt)) == pytest.approx(0.0, abs=1e-6)
    # kornia's SSIM with the protocol's window against torchmetrics' (valid vs reflect-padded
    # borders differ a little): the added term is 0.5 * (1 - SSIM)
    expected_ssim = float(ssim_per_image(noisy, gt).mean())
    extra = float(weighted._loss(noisy, gt) - plain._loss(noisy, gt))
    assert extra == pytest.approx(0.5 * (1 - expected_ssim), rel=0.1)
    prediction = noisy.clone().requires_grad_(True)
    weighted._loss(prediction, gt).backward()
    assert prediction.grad is not None and torch.isfinite(prediction.grad).all()
    with pytest.raises(ValueError, match="ssim_weight must be >= 0, got -1.0"):
        _module(ssim_weight=-1.0)
