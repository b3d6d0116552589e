"""Lightning modules: reference-CNN training (two-stage) and end-to-end training through the GP.

The modules are imported on first access, so that :mod:`lowlight.enhance.learned_gp` (which the
enhancer loads for end-to-end checkpoints) does not pull in Lightning.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lowlight.train.e2e_module import EndToEndModule
    from lowlight.train.reference_module import ReferenceCNNModule

_EXPORTS = {
    "ReferenceCNNModule": "lowlight.train.reference_module",
    "EndToEndModule": "lowlight.train.e2e_module",
}

__all__ = ["EndToEndModule", "ReferenceCNNModule"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
