from __future__ import annotations

from pathlib import Path

import torch

from lowlight.archs import CurveNet, GPECNN
from lowlight.enhance.checkpoints import learned_gp_metadata, save_reference_cnn
from lowlight.enhance.enhancer import SUGGESTED_NOISE_GATE
from lowlight.evaluation.learned_rows import EnhancerRow
from lowlight.evaluation.methods import MethodOptions, available_methods, build_methods
from lowlight.protocols import ImageContext
from lowlight.gp.learnable import LearnedHyperparameters
from lowlight.enhance.clustered_gp import GPOptions


def test_learned_rows_are_registered_and_run(tmp_path: Path) -> None:
    save_reference_cnn(CurveNet(width=8, refine_width=4), tmp_path / "rgb_cnn_v2.safetensors", "rgb")
    save_reference_cnn(GPECNN(), tmp_path / "y_cnn.safetensors", "y")
    save_reference_cnn(CurveNet(width=8, refine_width=4), tmp_path / "e2e_cm_v2.safetensors", "rgb")
    assert {"cnn", "cnn-y", "cm", "lm", "cm-2stage", "lm-2stage", "cm-paper", "lm-paper", "cm-pc", "cm-p5", "gpe"} <= set(
        available_methods()
    )
    methods = build_methods(["cnn", "cm", "lm-paper", "cm-pc"], MethodOptions(k=(4, 6), checkpoint_dir=tmp_path))
    assert [m.name for m in methods] == ["cnn", "cm k=4", "cm k=6", "lm-paper k=4", "lm-paper k=6", "cm-pc k=4", "cm-pc k=6"]
    image = torch.rand(1, 3, 16, 16) ** 3
    context = ImageContext(protocol="a", image_index=0, image_name="x.png", version=0, gamma=3.0)
    for method in methods:
        out = method(image, context)
        assert out.shape == image.shape and (out >= 0).all() and (out <= 1).all()


def _learned_file(path: Path, offset: float) -> None:
    """A CM checkpoint with learned GP tensors (log offsets all ``offset``)."""
    layer = LearnedHyperparameters(n_groups=1)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.fill_(offset)
    net = CurveNet(width=8, refine_width=4)
    extra = layer.checkpoint_tensors()
    save_reference_cnn(net, path, "rgb", extra=extra, metadata=learned_gp_metadata(layer, GPOptions()))


def test_shipped_rows_use_the_learned_gp_and_2stage_rows_the_heuristic(tmp_path: Path) -> None:
    torch.manual_seed(0)
    _learned_file(tmp_path / "e2e_cm_v2.safetensors", 1.0)
    save_reference_cnn(CurveNet(width=8, refine_width=4), tmp_path / "rgb_cnn_v2.safetensors", "rgb")
    _learned_file(tmp_path / "e2e_cm_ssim.safetensors", -1.0)
    _learned_file(tmp_path / "e2e_cm.safetensors", 2.0)  # v1
    save_reference_cnn(CurveNet(width=8, refine_width=4), tmp_path / "rgb_cnn.safetensors", "rgb")
    names = ["cm", "cm-ssim", "cm-2stage", "cm-pc", "cm-v1", "cm-v1-2stage", "cnn-v1"]
    methods = {m.name: m for m in build_methods(names, MethodOptions(k=(6,), checkpoint_dir=tmp_path))}
    image = torch.rand(1, 3, 16, 16) ** 3
    context = ImageContext(protocol="a", image_index=0, image_name="x.png", version=0, gamma=3.0)
    enhancers = {name: m.enhance.enhancer for name, m in methods.items()}
    assert enhancers["cm k=6"].learned_gp is not None
    shipped, ssim = enhancers["cm k=6"].learned_gp, enhancers["cm-ssim k=6"].learned_gp
    assert ssim is not None and float(ssim.log_lengthscale.flatten()[0]) == -1.0
    assert float(shipped.log_lengthscale.flatten()[0]) == 1.0
    assert enhancers["cm-2stage k=6"].learned_gp is None  # rgb_cnn_v2.safetensors: the heuristic
    assert float(enhancers["cm-v1 k=6"].learned_gp.log_lengthscale.flatten()[0]) == 2.0
    assert enhancers["cm-v1-2stage k=6"].learned_gp is None and not enhancers["cnn-v1"].config.use_gp
    assert enhancers["cm-pc k=6"].learned_gp is None and enhancers["cm-pc k=6"].config.gp.per_channel
    for method in methods.values():
        assert isinstance(method.enhance, EnhancerRow)
        assert method(image, context).shape == image.shape


def test_only_the_cm_ng_row_gates_the_gp_by_noise(tmp_path: Path) -> None:
    save_reference_cnn(CurveNet(width=8, refine_width=4), tmp_path / "e2e_cm_v2.safetensors", "rgb")
    methods = build_methods(["cm", "cm-ng"], MethodOptions(k=(6,), checkpoint_dir=tmp_path))
    gates = {m.name: m.enhance.enhancer.config.noise_gate for m in methods}
    assert gates == {"cm k=6": None, "cm-ng k=6": SUGGESTED_NOISE_GATE}
