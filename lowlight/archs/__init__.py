"""Reference CNNs: GPE's luma CNN and the project's RGB curve network."""

from lowlight.archs.curve_net import CurveNet
from lowlight.archs.gpe_cnn import GPECNN
from lowlight.archs.gpe_import import load_gpe_cnn, load_gpe_state_dict

#: reference CNN classes by name, as stored in checkpoints
ARCHITECTURES = {"GPECNN": GPECNN, "CurveNet": CurveNet}

__all__ = ["ARCHITECTURES", "GPECNN", "CurveNet", "load_gpe_cnn", "load_gpe_state_dict"]
