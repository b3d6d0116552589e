"""Training data: synthetic darkening, image sources, datasets and the LightningDataModule.

:class:`LowLightDataModule` is imported lazily, so that the pure-torch parts (``darken``) do not
pull in Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lowlight.data.darken import (
    DarkeningConfig,
    DarkeningParams,
    LightFieldConfig,
    darken,
    gamma_darken,
    light_field,
    poisson_gaussian_noise,
    quantize_8bit,
)
from lowlight.data.datasets import (
    VAL_GAMMAS_A,
    VAL_GAMMAS_B,
    EpochSampler,
    LowLightTrainDataset,
    LowLightValDataset,
    random_crop,
    seeded_generator,
)
from lowlight.data.sources import (
    coco_image_paths,
    coco_split_folder,
    folder_image_paths,
    gather_image_paths,
)

if TYPE_CHECKING:
    from lowlight.data.datamodule import LowLightDataModule

__all__ = [
    "VAL_GAMMAS_A",
    "VAL_GAMMAS_B",
    "DarkeningConfig",
    "DarkeningParams",
    "EpochSampler",
    "LightFieldConfig",
    "LowLightDataModule",
    "LowLightTrainDataset",
    "LowLightValDataset",
    "coco_image_paths",
    "coco_split_folder",
    "darken",
    "folder_image_paths",
    "gamma_darken",
    "gather_image_paths",
    "light_field",
    "poisson_gaussian_noise",
    "quantize_8bit",
    "random_crop",
    "seeded_generator",
]


def __getattr__(name: str) -> Any:
    if name == "LowLightDataModule":
        from lowlight.data.datamodule import LowLightDataModule

        return LowLightDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
