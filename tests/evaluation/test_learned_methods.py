from __future__ import annotations

from pathlib import Path

import torch

from lowlight.archs import CurveNet, GPECNN
from lowlight.checkpoints import save_reference_cnn
from lowlight.evaluation.methods import MethodOptions, available_methods, build_methods
from lowlight.evaluation.protocols import ImageContext


def test_learned_rows_are_registered_and_run(tmp_path: Path) -> None:
    save_reference_cnn(CurveNet(width=8, refine_width=4), tmp_path / "rgb_cnn.safetensors", "rgb")
    save_reference_cnn(GPECNN(), tmp_path / "y_cnn.safetensors", "y")
    assert {"cnn", "cnn-y", "cm", "lm", "cm-paper", "lm-paper", "cm-pc", "gpe"} <= set(available_methods())
    methods = build_methods(["cnn", "cm", "lm-paper", "cm-pc"], MethodOptions(k=(4, 6), checkpoint_dir=tmp_path))
    assert [m.name for m in methods] == ["cnn", "cm k=4", "cm k=6", "lm-paper k=4", "lm-paper k=6", "cm-pc k=4", "cm-pc k=6"]
    image = torch.rand(1, 3, 16, 16) ** 3
    context = ImageContext(protocol="a", image_index=0, image_name="x.png", version=0, gamma=3.0)
    for method in methods:
        out = method(image, context)
        assert out.shape == image.shape and (out >= 0).all() and (out <= 1).all()
