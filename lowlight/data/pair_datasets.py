"""Datasets of real (dark, bright) file pairs, and the mix of real and synthetic training items.

Items are ``{"lq": (3, h, w) float32 in [0, 1], "gt": (3, h, w) float32 in [0, 1], "path": str}``
as in :mod:`lowlight.data.datasets`, and training items are keyed by ``(epoch, index)`` in the
same way (see :class:`~lowlight.data.datasets.EpochSampler`), so that every item is a pure
function of ``(seed, epoch, index)`` and the files.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lowlight.data.brackets import read_pair
from lowlight.data.datasets import (
    EpochKeyed,
    Item,
    LowLightTrainDataset,
    check_crop_options,
    random_crop,
    seeded_generator,
)
from lowlight.io.images import ImageReadError
from lowlight.ops.resize import resize_image

# Stream tags distinct from those of lowlight.data.datasets.
_PAIR_ITEM_STREAM, _PAIR_PERMUTATION_STREAM = 10, 11


class _PairReads(Dataset):
    """Reads pair ``i`` (falling back to the next readable pair) and records bad pairs."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]]) -> None:
        self.pairs = [(Path(a), Path(b)) for a, b in pairs]
        if not self.pairs:
            raise ValueError("a pair dataset needs at least one (dark, bright) pair, got none")
        self._bad = torch.zeros(len(self.pairs), dtype=torch.bool).share_memory_()

    @property
    def skipped_files(self) -> int:
        """Distinct pairs found unreadable so far (by any worker)."""
        return int(self._bad.sum())

    def _read(self, pair_index: int) -> tuple[Path, Tensor, Tensor]:
        count = len(self.pairs)
        for step in range(count):
            index = (pair_index + step) % count
            if self._bad[index]:
                continue
            dark, bright = self.pairs[index]
            try:
                lq, gt = read_pair(dark, bright)
                return dark, lq, gt
            except ImageReadError as err:
                self._bad[index] = True
                warnings.warn(f"skipping unreadable pair: {err}", RuntimeWarning, stacklevel=2)
        raise RuntimeError(f"none of the {count} pairs is readable (first: {self.pairs[0]})")


class RealPairTrainDataset(_PairReads, EpochKeyed):
    """Aligned random crops (same rescale, position and flips) of real (dark, bright) pairs.

    Args:
        pairs: (dark file, bright file) pairs of one scene each.
        crop_size: side of the square crops.
        seed: base seed (>= 0).
        length: items per epoch (default: the number of pairs).
        scale_range: random resize factor before cropping.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        crop_size: int = 256,
        seed: int = 0,
        length: int | None = None,
        scale_range: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        super().__init__(pairs)
        check_crop_options(crop_size, seed, length)
        self.crop_size = crop_size
        self.seed = seed
        self.length = len(self.pairs) if length is None else length
        self.scale_range = scale_range
        self.epoch = 0

    def pair_index(self, epoch: int, index: int) -> int:
        """Which pair item ``(epoch, index)`` starts from (shuffled passes, as for photos)."""
        shuffled_pass, offset = divmod(epoch * self.length + index, len(self.pairs))
        generator = seeded_generator(self.seed, _PAIR_PERMUTATION_STREAM, shuffled_pass)
        return int(torch.randperm(len(self.pairs), generator=generator)[offset])

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} items")
        path, lq, gt = self._read(self.pair_index(epoch, index))
        # One crop of the stacked pair keeps the two aligned.
        generator = seeded_generator(self.seed, _PAIR_ITEM_STREAM, epoch, index)
        both = random_crop(torch.cat([lq, gt]), self.crop_size, generator, self.scale_range)
        return {"lq": both[:3], "gt": both[3:], "path": str(path)}


class RealPairValDataset(_PairReads):
    """Real pairs resized to ``size`` x ``size`` (bilinear, antialiased), for validation.

    Args:
        pairs: (dark file, bright file) pairs.
        size: side of the square images.
    """

    def __init__(self, pairs: Sequence[tuple[Path, Path]], size: int = 256) -> None:
        super().__init__(pairs)
        if not size > 0:
            raise ValueError(f"size must be > 0, got {size!r}")
        self.size = size

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Item:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        path, lq, gt = self._read(index)
        size = (self.size, self.size)
        lq, gt = (resize_image(x[None], size)[0] for x in (lq, gt))
        return {"lq": lq, "gt": gt, "path": str(path), "index": index}


class MixedTrainDataset(Dataset):
    """Synthetic items interleaved with real-pair items, a fixed fraction of each epoch real.

    Item ``i`` of an epoch is real when ``floor((i + 1) f) > floor(i f)`` for the fraction ``f``,
    so real items are spread evenly through every batch sequence rather than grouped.

    Args:
        synthetic: the synthetic-darkening dataset; its length is the epoch's length.
        real: the real-pair dataset (its own length is ignored: it is indexed by position).
        real_fraction: share of real items, in [0, 1].
    """

    def __init__(
        self, synthetic: LowLightTrainDataset, real: RealPairTrainDataset, real_fraction: float
    ) -> None:
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {real_fraction!r}")
        self.synthetic = synthetic
        self.real = real
        self.real_fraction = real_fraction
        self.length = len(synthetic)
        real.length = max(1, self._real_count(self.length))

    def _real_count(self, index: int) -> int:
        """Real items among positions ``0 .. index - 1``."""
        return int(index * self.real_fraction)

    def __len__(self) -> int:
        return self.length

    @property
    def skipped_files(self) -> int:
        return self.synthetic.skipped_files + self.real.skipped_files

    def set_epoch(self, epoch: int) -> None:
        self.synthetic.set_epoch(epoch)
        self.real.set_epoch(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (self.synthetic.epoch, key)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} items")
        before, after = self._real_count(index), self._real_count(index + 1)
        if after > before:
            return self.real[(epoch, before)]
        return self.synthetic[(epoch, index - before)]
