"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lowlight.archs import CurveNet
from lowlight.enhance.checkpoints import save_reference_cnn


@pytest.fixture()
def rgb_checkpoint(tmp_path: Path) -> Path:
    """An untrained (seeded) RGB CurveNet saved as a two-stage checkpoint."""
    torch.manual_seed(0)
    path = tmp_path / "rgb.safetensors"
    save_reference_cnn(CurveNet(), path, "rgb")
    return path


@pytest.fixture()
def ckpt(rgb_checkpoint: Path) -> Path:
    """The same checkpoint, under the name the reliability and distributed tests use."""
    return rgb_checkpoint
