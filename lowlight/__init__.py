"""lowlight: low-light image enhancement with a reference CNN and a clustered exact Gaussian Process.

The public API::

    from lowlight import Enhancer, EnhancerConfig, GPOptions
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(mode="cm", gp=GPOptions(k=30)))
    result = enhancer(dark)          # dark: (B, 3, H, W) float in [0, 1]

The packages, lowest layer first (``docs/architecture.md``; ``pyproject.toml``'s import contract
enforces the order): :mod:`lowlight.ops` and :mod:`lowlight.io`; :mod:`lowlight.gp`,
:mod:`lowlight.cluster`, :mod:`lowlight.archs` and :mod:`lowlight.protocols`;
:mod:`lowlight.enhance`, :mod:`lowlight.baselines`, :mod:`lowlight.data` and
:mod:`lowlight.metrics`; :mod:`lowlight.train`, :mod:`lowlight.evaluation` and
:mod:`lowlight.bench`; :mod:`lowlight.cli`.
"""

from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import EnhanceResult, Enhancer, EnhancerConfig

__version__ = "0.1.0"

__all__ = ["EnhanceResult", "Enhancer", "EnhancerConfig", "GPOptions", "__version__"]
