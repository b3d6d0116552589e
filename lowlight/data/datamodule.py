"""The LightningDataModule: COCO splits and folders -> synthetic (dark, bright) batches."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from lowlight.data.brackets import (
    BracketOptions,
    BracketScene,
    load_scenes,
    scene_pairs,
    split_scenes,
)
from lowlight.data.darken import DarkeningConfig
from lowlight.data.datasets import (
    EpochSampler,
    LowLightTrainDataset,
    LowLightValDataset,
    round_up_to_multiple,
)
from lowlight.data.pair_datasets import (
    MixedTrainDataset,
    RealPairTrainDataset,
    RealPairValDataset,
)
from lowlight.data.sources import DataSourceError, gather_image_paths, split_holdout
from lowlight.ops.checks import check_positive


class LowLightDataModule(L.LightningDataModule):
    """Training crops with random darkening, and fixed protocol-like validation pairs.

    Batches are dicts ``{"lq": (B, 3, h, w), "gt": (B, 3, h, w), "path": list[str]}``, float32 in
    [0, 1]; ``h = w = crop_size`` for training, ``val_size`` for validation.

    Validation: :meth:`val_dataloader` returns a list of loaders, named by :attr:`val_loader_names`:
    index 0 is ``"val/a"`` (protocol A: global gamma ``linspace(2, 6, 25)[i % 25]``, 8 bits), index
    1, when ``val_protocol_b``, is ``"val/b"`` (protocol-B-like: uneven light, 300 photons, read
    std 0.004); then, with ``brackets``, ``"val_real"``: the real pairs of the held-out scenes.
    Without validation sources the list is empty.

    Several processes (DDP, ``--trainer.strategy ddp --trainer.devices N [--trainer.num_nodes
    M]``): each rank reads its own share of every epoch (:class:`EpochSampler`: disjoint shares
    whose union is the epoch, items still keyed by ``(seed, epoch, index)``); an epoch whose length
    is not a multiple of the number of ranks is rounded up to one (a note says so). Each rank
    validates its own share of every validation set (rank ``r`` of ``W``: images ``r, r + W, ...``,
    none repeated, so shares may differ by one image); the modules' torchmetrics gather the
    figures of all ranks.

    Validation on the training side (the project's rule: the report set never selects anything):
    ``holdout_percent`` moves a fixed part of the training photos (by a hash of the file name)
    into ``val/a`` and ``val/b``, and ``brackets`` hold out ``bracket_options.val_percent`` of
    their scenes as ``val_real``.

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
        samples_per_epoch: training items per epoch, all ranks together (default: one per image);
            more repeats the images, fewer uses a different subset each epoch. Rounded up to a
            multiple of the number of ranks.
        darkening: the random darkening of training crops.
        seed: base seed of crops, darkening, per-epoch shuffling and the ``val/b`` noise.
        max_val_images: validate on the first images only (sorted by source, then file name).
        val_protocol_b: add the ``val/b`` loader.
        train_scale_range: random resize factor of training photos before cropping.
        brackets: exposure-bracket folders (SICE layout) or their JSON manifests
            (``python -m lowlight.cli.brackets``): real pairs for training and ``val_real``; the
            training scenes' references also join the bright photos.
        bracket_options: how bracket frames are grouped into scenes and paired.
        real_fraction: share of training items that are real pairs (when ``brackets``).
        holdout_percent: percent of the training photos held out for ``val/a`` and ``val/b``
            (0: none; then validation comes from ``coco_val`` / ``val_dirs``).
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
        brackets: list[Path] = [],  # noqa: B006
        bracket_options: BracketOptions = BracketOptions(),  # noqa: B008 - frozen
        real_fraction: float = 0.25,
        holdout_percent: int = 0,
    ) -> None:
        super().__init__()
        for value, name in ((crop_size, "crop_size"), (batch_size, "batch_size"),
                            (val_size, "val_size")):
            check_positive(value, name)
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
        if samples_per_epoch is not None and not samples_per_epoch > 0:
            raise ValueError(f"samples_per_epoch must be > 0 or None, got {samples_per_epoch!r}")
        if max_val_images is not None and not max_val_images > 0:
            raise ValueError(f"max_val_images must be > 0 or None, got {max_val_images!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed!r}")
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {real_fraction!r}")
        if not 0 <= holdout_percent < 100:
            raise ValueError(f"holdout_percent must be in [0, 100), got {holdout_percent!r}")
        if holdout_percent and (coco_val or val_dirs):
            raise ValueError(
                "holdout_percent and coco_val/val_dirs both name validation images: use one"
            )
        if brackets and not val_protocol_b:
            raise ValueError("brackets' val_real loader comes after val/b: keep val_protocol_b")
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
        self.brackets = [Path(p) for p in brackets]
        self.bracket_options = bracket_options
        self.real_fraction = real_fraction
        self.holdout_percent = holdout_percent
        self.train_dataset: LowLightTrainDataset | MixedTrainDataset | None = None
        self.val_datasets: list[LowLightValDataset | RealPairValDataset] = []
        self._scenes: tuple[list[BracketScene], list[BracketScene]] | None = None

    @property
    def val_loader_names(self) -> list[str]:
        """Names of the validation loaders, in :meth:`val_dataloader` order."""
        if not (self.coco_val or self.val_dirs or self.holdout_percent):
            if self.brackets:
                raise ValueError("val_real needs val/a and val/b: give coco_val, val_dirs or "
                                 "holdout_percent too")
            return []
        names = ["val/a", "val/b"] if self.val_protocol_b else ["val/a"]
        return names + (["val_real"] if self.brackets else [])

    def bracket_scenes(self) -> tuple[list[BracketScene], list[BracketScene]]:
        """(training scenes, held-out val_real scenes) of all ``brackets``, read once."""
        if self._scenes is None:
            scenes = [s for source in self.brackets
                      for s in load_scenes(source, self.bracket_options, progress=True)]
            self._scenes = split_scenes(scenes, self.bracket_options.val_percent)
        return self._scenes

    def _train_and_holdout_photos(self) -> tuple[list[Path], list[Path]]:
        paths = gather_image_paths(self.coco_train, self.train_dirs)
        if self.brackets:
            paths += [s.reference for s in self.bracket_scenes()[0]]
        return split_holdout(paths, self.holdout_percent)

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
            paths, _ = self._train_and_holdout_photos()
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
                length=self.epoch_length(len(paths)),
                scale_range=self.train_scale_range,
            )
            train_pairs = scene_pairs(self.bracket_scenes()[0]) if self.brackets else []
            if train_pairs and self.real_fraction > 0:
                real = RealPairTrainDataset(
                    train_pairs, crop_size=self.crop_size, seed=self.seed,
                    scale_range=self.train_scale_range,
                )
                self.train_dataset = MixedTrainDataset(
                    self.train_dataset, real, self.real_fraction
                )
        if stage in (None, "fit", "validate") and not self.val_datasets and self.val_loader_names:
            if self.holdout_percent:
                paths = self._train_and_holdout_photos()[1]
            else:
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
            if self.brackets:
                val_pairs = scene_pairs(self.bracket_scenes()[1])
                if not val_pairs:
                    raise ValueError(f"no held-out bracket pairs in {[str(p) for p in self.brackets]}")
                self.val_datasets.append(RealPairValDataset(val_pairs, size=self.val_size))

    def replicas(self) -> tuple[int, int]:
        """``(world size, global rank)``: from the attached trainer, else from an initialised
        ``torch.distributed`` process group, else ``(1, 0)``."""
        trainer = self.trainer
        if trainer is not None:
            return trainer.world_size, trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def epoch_length(self, photos: int) -> int:
        """Training items per epoch, all ranks together: ``samples_per_epoch`` (default: the
        number of ``photos``) rounded up to a multiple of the world size, with a note when it is."""
        length = self.samples_per_epoch or photos
        world, _ = self.replicas()
        rounded = round_up_to_multiple(length, world)
        if rounded != length:
            rank_zero_info(f"training epoch of {length} items rounded up to {rounded}, a multiple of the "
                           f"{world} processes (each reads {rounded // world} of them)")
        return rounded

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        assert self.train_dataset is not None
        world, rank = self.replicas()
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            # The dataset shuffles itself per epoch (see LowLightTrainDataset); the sampler only
            # carries the epoch to the workers and gives each rank its share.
            sampler=EpochSampler(len(self.train_dataset), num_replicas=world, rank=rank),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> list[DataLoader]:
        if not self.val_datasets and self.val_loader_names:
            self.setup("validate")
        world, rank = self.replicas()
        for name, dataset in zip(self.val_loader_names, self.val_datasets, strict=True):
            if len(dataset) < world:  # a rank without a batch would never join the metrics' sync
                raise ValueError(f"{name}: {len(dataset)} validation image(s) for {world} processes; "
                                 "give at least one per process")
        return [
            DataLoader(
                dataset,
                batch_size=self.batch_size,
                # one share per rank, nothing repeated (a padded share would count images twice)
                sampler=UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
                if world > 1 else None,
                shuffle=False,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                pin_memory=torch.cuda.is_available(),
            )
            for dataset in self.val_datasets
        ]
