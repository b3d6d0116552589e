"""The GPE importer against a direct numpy correlation with the same MatConvNet weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from scipy.signal import correlate

from lowlight.archs import load_gpe_cnn
from lowlight.archs.gpe_import import load_gpe_state_dict
from tests.conftest import shared_path


def _matconvnet_forward(mat_path: Path, image: np.ndarray) -> np.ndarray:
    """Valid correlation stack in float64 straight from the .mat layers: (H, W) -> (H-16, W-16)."""
    layers = scipy.io.loadmat(mat_path, squeeze_me=True, struct_as_record=False)["net"].layers
    shapes = [(9, 9, 1, 64), (1, 1, 64, 32), (5, 5, 32, 16), (5, 5, 16, 1)]
    h = image[:, :, None].astype(np.float64)  # (H, W, C)
    convs = [layer for layer in layers if layer.type == "conv"]
    activations = [layer.type for layer in layers if layer.type in ("relu", "sigmoid")]
    for layer, shape, act in zip(convs, shapes, activations, strict=True):
        w = np.asarray(layer.weights[0], dtype=np.float64).reshape(shape)
        b = np.asarray(layer.weights[1], dtype=np.float64).reshape(shape[3])
        out = np.stack(
            [
                sum(correlate(h[:, :, c], w[:, :, c, o], mode="valid") for c in range(shape[2]))
                + b[o]
                for o in range(shape[3])
            ],
            axis=2,
        )
        h = np.maximum(out, 0) if act == "relu" else 1 / (1 + np.exp(-out))
    return h[:, :, 0]


def test_imported_cnn_equals_direct_correlation() -> None:
    mat = shared_path("reference/gpe_cnnmodel.mat")
    rng = np.random.default_rng(0)
    image = rng.random((30, 27)) ** 3  # a dark image
    expected = _matconvnet_forward(mat, image)
    net = load_gpe_cnn(mat).double()
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        h = net.conv1(x).relu()
        h = net.conv4(net.conv3(net.conv2(h).relu()).sigmoid()).sigmoid()
    np.testing.assert_allclose(h[0, 0].numpy(), expected, rtol=1e-10, atol=1e-12)
    # The padded forward keeps the size and agrees with the valid one in the interior.
    with torch.no_grad():
        full = net(x)[0, 0].numpy()
    assert full.shape == image.shape
    np.testing.assert_allclose(full[8:-8, 8:-8], expected, atol=1e-10)


def test_imported_cnn_brightens_a_dark_image() -> None:
    net = load_gpe_cnn(shared_path("reference/gpe_cnnmodel.mat"))
    ramp = torch.linspace(0.01, 0.3, 64).repeat(64, 1)[None, None]  # (1, 1, 64, 64)
    with torch.no_grad():
        out = net(ramp)
    assert out.mean() > ramp.mean()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="GPE model file not found: .*nope.mat"):
        load_gpe_state_dict(tmp_path / "nope.mat")


def test_wrong_network_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"net": {"layers": np.array([1.0, 2.0])}})
    with pytest.raises(ValueError, match="other.mat"):
        load_gpe_state_dict(path)
