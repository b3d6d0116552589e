from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lowlight.archs import CurveNet, GPECNN
from lowlight.enhance.checkpoints import (
    CM_SSIM,
    DEFAULT_CM,
    DEFAULT_LM,
    DEFAULT_RGB_CNN,
    DEFAULT_Y_CNN,
    default_checkpoint,
    load_reference_cnn,
    save_reference_cnn,
)
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.gp.learnable import CHECKPOINT_TENSORS


def test_round_trip_keeps_weights_config_extra_and_metadata(tmp_path: Path) -> None:
    net = CurveNet(width=8, refine_width=4)
    path = tmp_path / "n.safetensors"
    extra = {"gp.log_lengthscale": torch.tensor([[0.5]])}
    save_reference_cnn(net, path, "rgb", extra=extra, metadata={"data": "tiny"})
    loaded = load_reference_cnn(path)
    assert isinstance(loaded.net, CurveNet) and loaded.net.width == 8 and loaded.net.refine_width == 4
    for (k, a), b in zip(net.state_dict().items(), loaded.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert torch.equal(loaded.extra["gp.log_lengthscale"], extra["gp.log_lengthscale"])
    assert loaded.metadata == {"data": "tiny"} and loaded.channels == "rgb"
    assert not loaded.net.training
    assert not list(tmp_path.glob(".*.lowlight-tmp"))


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*none.safetensors"):
        load_reference_cnn(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.safetensors: not a safetensors checkpoint"):
        load_reference_cnn(junk)
    with pytest.raises(ValueError, match="channels must be 'y' or 'rgb', got 'ycbcr'"):
        save_reference_cnn(GPECNN(), tmp_path / "x.safetensors", "ycbcr")


@pytest.mark.parametrize(
    ("path", "arch", "channels", "learned_gp"),
    [
        (DEFAULT_RGB_CNN, CurveNet, "rgb", False),
        (DEFAULT_Y_CNN, GPECNN, "y", False),
        (DEFAULT_CM, CurveNet, "rgb", True),
        (DEFAULT_LM, GPECNN, "y", True),
        (CM_SSIM, CurveNet, "rgb", True),
    ],
)
def test_shipped_checkpoints_load(path: Path, arch: type, channels: str, learned_gp: bool) -> None:
    if not path.is_file():
        pytest.fail(f"shipped checkpoint missing: {path}")
    loaded = load_reference_cnn(path)
    assert isinstance(loaded.net, arch) and loaded.channels == channels
    assert float(loaded.metadata["best_val_psnr"]) > 15
    assert set(CHECKPOINT_TENSORS) <= set(loaded.extra) if learned_gp else not loaded.extra


@pytest.mark.parametrize(("mode", "path"), [("cm", DEFAULT_CM), ("lm", DEFAULT_LM)])
def test_enhancer_defaults_to_the_end_to_end_checkpoints(mode: str, path: Path) -> None:
    assert default_checkpoint(mode) == path
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(mode=mode))  # type: ignore[arg-type]
    assert enhancer.learned_gp is not None
    with pytest.raises(ValueError, match="mode must be 'lm' or 'cm', got 'rgb'"):
        default_checkpoint("rgb")
