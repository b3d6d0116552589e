"""Import GPE's trained MatConvNet weights (``gpe_cnnmodel.mat``) into :class:`GPECNN`.

The file's licence is academic use only: the project reads it from a path the user gives
(``../shared/reference/gpe_cnnmodel.mat`` here) and never ships a copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lowlight.archs.gpe_cnn import GPECNN

_CONV_NAMES = ("conv1", "conv2", "conv3", "conv4")
_ACTIVATIONS = ("relu", "relu", "sigmoid", "sigmoid")


def load_gpe_state_dict(mat_path: Path) -> dict[str, Tensor]:
    """Read GPE's MatConvNet model into a :class:`GPECNN` state dict.

    MatConvNet stores a filter bank as (kh, kw, in, out), with singleton dimensions squeezed
    away by ``loadmat(squeeze_me=True)``; its convolution is a correlation like torch's, so the
    weights are only reshaped and permuted to (out, in, kh, kw), never flipped.

    Args:
        mat_path: path to ``gpe_cnnmodel.mat``.

    Returns:
        float32 tensors keyed like ``GPECNN().state_dict()``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not GPE's 4-convolution network.
    """
    import scipy.io  # scipy is only needed for this import

    mat_path = Path(mat_path)
    if not mat_path.is_file():
        raise FileNotFoundError(f"GPE model file not found: {mat_path}")
    try:
        layers = scipy.io.loadmat(mat_path, squeeze_me=True, struct_as_record=False)["net"].layers
        layers = list(np.atleast_1d(layers))
        kinds_all = [getattr(layer, "type", None) for layer in layers]
    except (KeyError, AttributeError, ValueError, TypeError) as err:
        raise ValueError(f"{mat_path}: not a MatConvNet network with net.layers ({err})") from err
    if None in kinds_all:
        raise ValueError(f"{mat_path}: net.layers are not MatConvNet layer structs")
    convs = [layer for layer in layers if layer.type == "conv"]
    # The training graph ends in a loss layer ("MSEloss"), which inference drops.
    kinds = [layer.type for layer in layers if layer.type in ("relu", "sigmoid")]
    if len(convs) != 4 or kinds != list(_ACTIVATIONS):
        raise ValueError(
            f"{mat_path}: expected 4 conv layers with activations {_ACTIVATIONS}, "
            f"got {len(convs)} conv layers and {kinds}"
        )
    reference = GPECNN().state_dict()
    state: dict[str, Tensor] = {}
    for name, layer in zip(_CONV_NAMES, convs, strict=True):
        if int(np.max(layer.stride)) != 1 or int(np.max(layer.pad)) != 0:
            raise ValueError(f"{mat_path}: {name} has stride {layer.stride}, pad {layer.pad}")
        weight, bias = layer.weights
        out_ch, in_ch, kh, kw = reference[f"{name}.weight"].shape
        w = np.asarray(weight, dtype=np.float32).reshape(kh, kw, in_ch, out_ch)
        state[f"{name}.weight"] = torch.from_numpy(w.transpose(3, 2, 0, 1).copy())
        state[f"{name}.bias"] = torch.from_numpy(
            np.asarray(bias, dtype=np.float32).reshape(out_ch).copy()
        )
    return state


def load_gpe_cnn(mat_path: Path) -> GPECNN:
    """A :class:`GPECNN` (eval mode) carrying GPE's trained weights from ``mat_path``."""
    net = GPECNN()
    net.load_state_dict(load_gpe_state_dict(mat_path))
    return net.eval()
