"""The LightningDataModule: COCO splits and folders -> synthetic (dark, bright) batches."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from lowlight.data.darken import DarkeningConfig
from lowlight.data.datasets import EpochSampler, LowLightTrainDataset, LowLightValDataset
from lowlight.data.sources import DataSourceError, gather_image_paths


class LowLightDataModule(L.LightningDataModule):
    """Training crops with random darkening, and fixed protocol-like validation pairs.

    Batches are dicts ``{"lq": (B, 3, h, w), "gt": (B, 3, h, w), "path": list[str]}``, float32 in
    [0, 1]; ``h = w = crop_size`` for training, ``val_size`` for validation.

    Validation: :meth:`val_dataloader` returns a list of loaders, named by :attr:`val_loader_names`:
    index 0 is ``"val/a"`` (protocol A: global gamma ``linspace(2, 6, 25)[i % 25]``, 8 bits), index
    1, when ``val_protocol_b``, is ``"val/b"`` (protocol-B-like: uneven light, 300 photons, read
    std 0.004). Without validation sources the list is empty.

    Args:
        coco_train: COCO annotation files (``.../annotations/instances_train2017.json``) whose
            listed images are used for training.
        train_dirs: folders whose images are used for training (combined with ``coco_train``).
        coco_val: COCO annotation files for validation.
        val_dirs: folders for validation.
        crop_size: side of the random training crops.
        batch_size: for training and validation.
        num_workers: DataLoader worker processes (kept alive across epochs when > 0).
        val_size: validation images are resized to ``val_size`` x ``val_size``.
        samples_per_epoch: training items per epoch (default: one per image); more repeats the
            images, fewer uses a different subset each epoch.
        darkening: the random darkening of training crops.
        seed: base seed of crops, darkening, per-epoch shuffling and the ``val/b`` noise.
        max_val_images: validate on the first images only (sorted by source, then file name).
        val_protocol_b: add the ``val/b`` loader.
        train_scale_range: random resize factor of training photos before cropping.
    """

    def __init__(
        self,
        coco_train: list[Path] = [],  # noqa: B006 - never mutated; jsonargparse shows the default
        train_dirs: list[Path] = [],  # noqa: B006
        coco_val: list[Path] = [],  # noqa: B006
        val_dirs: list[Path] = [],  # noqa: B006
        crop_size: int = 256,
        batch_size: int = 8,
        num_workers: int = 0,
        val_size: int = 256,
        samples_per_epoch: int | None = None,
        darkening: DarkeningConfig = DarkeningConfig(),  # noqa: B008 - frozen, so safe to share
        seed: int = 0,
        max_val_images: int | None = None,
        val_protocol_b: bool = True,
        train_scale_range: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        for value, name in ((crop_size, "crop_size"), (batch_size, "batch_size"),
                            (val_size, "val_size")):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
        if samples_per_epoch is not None and not samples_per_epoch > 0:
            raise ValueError(f"samples_per_epoch must be > 0 or None, got {samples_per_epoch!r}")
        if max_val_images is not None and not max_val_images > 0:
            raise ValueError(f"max_val_images must be > 0 or None, got {max_val_images!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed!r}")
        self.coco_train = [Path(p) for p in coco_train]
        self.train_dirs = [Path(p) for p in train_dirs]
        self.coco_val = [Path(p) for p in coco_val]
        self.val_dirs = [Path(p) for p in val_dirs]
        self.crop_size = crop_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_size = val_size
        self.samples_per_epoch = samples_per_epoch
        self.darkening = darkening
        self.seed = seed
        self.max_val_images = max_val_images
        self.val_protocol_b = val_protocol_b
        self.train_scale_range = train_scale_range
        self.train_dataset: LowLightTrainDataset | None = None
        self.val_datasets: list[LowLightValDataset] = []

    @property
    def val_loader_names(self) -> list[str]:
        """Names of the validation loaders, in :meth:`val_dataloader` order."""
        if not (self.coco_val or self.val_dirs):
            return []
        return ["val/a", "val/b"] if self.val_protocol_b else ["val/a"]

    @property
    def skipped_files(self) -> int:
        """Distinct unreadable files met so far, training and validation together."""
        datasets = [self.train_dataset, *self.val_datasets[:1]]  # val/b reads val/a's files
        return sum(d.skipped_files for d in datasets if d is not None)

    def setup(self, stage: str | None = None) -> None:
        """List the images (fit: training and validation; validate: validation only).

        Raises:
            ValueError: no training image (for fit), or validation sources with no image.
            FileNotFoundError: a COCO JSON, its image folder or a folder does not exist.
        """
        if stage in (None, "fit") and self.train_dataset is None:
            paths = gather_image_paths(self.coco_train, self.train_dirs)
            if not paths:
                raise DataSourceError(
                    f"no training images in coco_train={[str(p) for p in self.coco_train]}, "
                    f"train_dirs={[str(p) for p in self.train_dirs]}"
                )
            self.train_dataset = LowLightTrainDataset(
                paths,
                crop_size=self.crop_size,
                darkening=self.darkening,
                seed=self.seed,
                length=self.samples_per_epoch,
                scale_range=self.train_scale_range,
            )
        if stage in (None, "fit", "validate") and not self.val_datasets and self.val_loader_names:
            paths = gather_image_paths(self.coco_val, self.val_dirs)
            if not paths:
                raise DataSourceError(
                    f"no validation images in coco_val={[str(p) for p in self.coco_val]}, "
                    f"val_dirs={[str(p) for p in self.val_dirs]}"
                )
            paths = paths[: self.max_val_images]
            variants = ("a", "b") if self.val_protocol_b else ("a",)
            self.val_datasets = [
                LowLightValDataset(paths, size=self.val_size, variant=v, seed=self.seed)
                for v in variants
            ]
            for dataset in self.val_datasets[1:]:  # the variants read the same files
                dataset.share_bad_file_record(self.val_datasets[0])

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        assert self.train_dataset is not None
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            # The dataset shuffles itself per epoch (see LowLightTrainDataset); the sampler only
            # carries the epoch to the workers.
            sampler=EpochSampler(len(self.train_dataset)),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> list[DataLoader]:
        if not self.val_datasets and self.val_loader_names:
            self.setup("validate")
        return [
            DataLoader(
                dataset,
                batch_size=self.batch_size,
                shuffle=False,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                pin_memory=torch.cuda.is_available(),
            )
            for dataset in self.val_datasets
        ]
