"""lowlight: low-light image enhancement with a reference CNN and a clustered exact Gaussian Process.

Layers:
- pure torch: :mod:`lowlight.ops.color`, :mod:`lowlight.ops.patches`, :mod:`lowlight.archs`,
  :mod:`lowlight.gp`, :mod:`lowlight.data.darken`;
- Lightning: :mod:`lowlight.train`, :mod:`lowlight.data.datamodule`;
- entry points: ``train.py`` and ``infer.py`` at the repository root, :mod:`lowlight.cli`.
"""

__version__ = "0.1.0"
