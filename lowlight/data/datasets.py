"""Training and validation datasets: (dark, bright) pairs made on the fly from bright photos.

Both return ``{"lq": (3, h, w) float32 in [0, 1], "gt": (3, h, w) float32 in [0, 1], "path": str}``;
validation items also carry their ``"index"`` in the dataset (an int), so that a model can tell
the first images of the set apart whichever rank validates them.

Unreadable files (empty, truncated, not an image) never stop an epoch: the item is taken from the
next readable file instead, the file is reported by one warning and marked in a flag tensor kept
in shared memory, so that :attr:`skipped_files` counts distinct bad files across DataLoader
workers as well.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from lowlight.data.darken import (
    DarkeningConfig,
    LightFieldConfig,
    darken,
    gamma_darken,
    light_field,
    poisson_gaussian_noise,
    quantize_8bit,
)
from lowlight.io.images import ImageReadError, read_image
from lowlight.ops.checks import check_positive, check_single_image
from lowlight.ops.resize import resize_image
from lowlight.protocols import GAMMAS_A, GAMMAS_B, PEAK_PHOTONS_B, READ_STD_B

Item = dict[str, Tensor | str]

# Protocol A's gammas (lowlight.protocols): validation image i is darkened with VAL_GAMMAS_A[i % 25].
VAL_GAMMAS_A = torch.from_numpy(GAMMAS_A)
# Protocol B's gammas, photons and read noise (lowlight.protocols, protocol_b.py).
VAL_GAMMAS_B = torch.from_numpy(GAMMAS_B)
VAL_PHOTONS_B = PEAK_PHOTONS_B
VAL_READ_STD_B = READ_STD_B
# Protocol B's light: ambient 0.05-0.3 and 1-3 round soft pools at full brightness, centred
# inside the image, nothing else.
VAL_LIGHT_B = LightFieldConfig(
    pool_peak_range=(1.0, 1.0), round_pools=True, pool_margin=0.0, gradient_prob=0.0,
    vignette_prob=0.0,
)

# Stream tags, so that the item, permutation and validation seeds never collide.
_ITEM_STREAM, _PERMUTATION_STREAM, _VAL_STREAM = 0, 1, 2


def seeded_generator(*entropy: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from non-negative integers, e.g. (seed, epoch, index).

    The integers are mixed by :class:`numpy.random.SeedSequence`, so nearby tuples give
    unrelated streams.
    """
    if any(value < 0 for value in entropy):
        raise ValueError(f"seed entropy must be non-negative integers, got {entropy}")
    state = np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def random_crop(
    image: Tensor,
    size: int,
    generator: torch.Generator,
    scale_range: tuple[float, float] = (1.0, 1.0),
    flips: bool = True,
) -> Tensor:
    """Random rescale, square crop and horizontal / vertical flips (each with probability 1/2).

    The image is first resized by a factor drawn from ``scale_range``; an image whose short side
    would then be below ``size`` is upscaled (bilinear) until it equals ``size``, rather than
    padded, so that a crop never contains mirrored content. The number of random draws is fixed.

    Args:
        image: (3, H, W) float in [0, 1].
        size: side of the crop.
        generator: CPU generator.
        scale_range: bounds of the resize factor (> 0).
        flips: draw the flips (otherwise never flip).

    Returns:
        (3, size, size) float in [0, 1].
    """
    check_single_image(image)
    if not size > 0:
        raise ValueError(f"size must be > 0, got {size!r}")
    low, high = scale_range
    if not 0 < low <= high:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
    draws = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
    scale_draw, top_draw, left_draw, hflip_draw, vflip_draw = draws
    height, width = image.shape[-2:]
    scale = max(low + (high - low) * scale_draw, size / min(height, width))
    if scale != 1.0:
        new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
        image = resize_image(image[None], new_size)[0]
        height, width = new_size
    top = min(int(top_draw * (height - size + 1)), height - size)
    left = min(int(left_draw * (width - size + 1)), width - size)
    crop = image[:, top : top + size, left : left + size]
    if flips and hflip_draw < 0.5:
        crop = crop.flip(-1)
    if flips and vflip_draw < 0.5:
        crop = crop.flip(-2)
    return crop.contiguous()


def check_crop_options(crop_size: int, seed: int, length: int | None) -> None:
    """The options every random-crop training dataset shares; a ``ValueError`` names a bad one."""
    check_positive(crop_size, "crop_size")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed!r}")
    if length is not None and not length > 0:
        raise ValueError(f"length must be > 0 or None, got {length!r}")


class EpochKeyed:
    """``length`` items per epoch, keyed by ``(epoch, index)``; integer keys use :attr:`epoch`."""

    length: int
    epoch: int = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by integer indices (an ``(epoch, index)`` key carries its own)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch!r}")
        self.epoch = epoch


class _ReadsWithSkip(Dataset):
    """Reads ``paths[i]``, falling back to the next readable file, and records the bad ones."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("a dataset needs at least one image path, got none")
        # One flag per file, in shared memory so that DataLoader workers mark the same flags.
        self._bad = torch.zeros(len(self.paths), dtype=torch.bool).share_memory_()

    @property
    def skipped_files(self) -> int:
        """Number of distinct files found unreadable so far (by any worker)."""
        return int(self._bad.sum())

    @property
    def bad_paths(self) -> list[Path]:
        """The files found unreadable so far, in list order."""
        return [self.paths[i] for i in self._bad.nonzero().flatten().tolist()]

    def share_bad_file_record(self, other: _ReadsWithSkip) -> None:
        """Use ``other``'s record of bad files (same file list): each is then warned about once."""
        if other.paths != self.paths:
            raise ValueError("can only share the bad-file record of a dataset with the same files")
        self._bad = other._bad

    def _read(self, path_index: int) -> tuple[Path, Tensor]:
        """The image at ``path_index`` or, when that is unreadable, at the next readable index.

        Raises:
            RuntimeError: no file of the dataset is readable.
        """
        count = len(self.paths)
        for step in range(count):
            index = (path_index + step) % count
            if self._bad[index]:
                continue
            path = self.paths[index]
            try:
                return path, read_image(path)
            except ImageReadError as err:
                self._bad[index] = True
                warnings.warn(f"skipping unreadable image: {err}", RuntimeWarning, stacklevel=2)
        raise RuntimeError(f"none of the {count} images is readable (first: {self.paths[0]})")


class LowLightTrainDataset(_ReadsWithSkip, EpochKeyed):
    """Random crops of bright photos with their random synthetic darkening.

    Item ``(epoch, index)`` is a pure function of ``(seed, epoch, index)`` and the files, so it
    is reproducible whatever the number of DataLoader workers. Positions ``epoch * len(self) +
    index`` walk through an endless sequence of shuffled passes over the files, so that with
    ``length`` below the number of files successive epochs see different files, and above it
    files repeat evenly.

    Args:
        paths: the bright images.
        crop_size: side of the square crops (smaller images are upscaled, see
            :func:`random_crop`).
        darkening: how the dark input is made.
        seed: base seed (>= 0).
        length: items per epoch (default: the number of files).
        scale_range: random resize factor before cropping; factors below 1 show more of each
            photo, closer to a whole image resized to 256 x 256 as in the protocols.
        flips: random horizontal and vertical flips.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        crop_size: int = 256,
        darkening: DarkeningConfig | None = None,
        seed: int = 0,
        length: int | None = None,
        scale_range: tuple[float, float] = (1.0, 1.0),
        flips: bool = True,
    ) -> None:
        super().__init__(paths)
        check_crop_options(crop_size, seed, length)
        self.crop_size = crop_size
        self.darkening = DarkeningConfig() if darkening is None else darkening
        self.seed = seed
        self.length = len(self.paths) if length is None else length
        self.scale_range = scale_range
        self.flips = flips
        self.epoch = 0
        self._permutations: dict[int, list[int]] = {}

    def path_index(self, epoch: int, index: int) -> int:
        """Which file item ``(epoch, index)`` starts from."""
        position = epoch * self.length + index
        shuffled_pass, offset = divmod(position, len(self.paths))
        return self._permutation(shuffled_pass)[offset]

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} items")
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch!r}")
        generator = seeded_generator(self.seed, _ITEM_STREAM, epoch, index)
        path, image = self._read(self.path_index(epoch, index))
        gt = random_crop(image, self.crop_size, generator, self.scale_range, self.flips)
        lq, _ = darken(gt[None], self.darkening, generator)  # (1, 3, h, w)
        return {"lq": lq[0], "gt": gt, "path": str(path)}

    def _permutation(self, shuffled_pass: int) -> list[int]:
        if shuffled_pass not in self._permutations:
            if len(self._permutations) >= 4:  # a batch straddles at most two passes
                self._permutations.clear()
            generator = seeded_generator(self.seed, _PERMUTATION_STREAM, shuffled_pass)
            order = torch.randperm(len(self.paths), generator=generator).tolist()
            self._permutations[shuffled_pass] = order
        return self._permutations[shuffled_pass]


class LowLightValDataset(_ReadsWithSkip):
    """Fixed (dark, bright) pairs for validation, as in the protocols, one per image.

    Each image is resized to ``size`` x ``size`` (bilinear, antialiased) and kept as float.
    Variant ``"a"`` (protocol A): ``quantize(G ** gamma)`` with gamma ``VAL_GAMMAS_A[i % 25]``.
    Variant ``"b"`` (protocol-B-like, not bit-identical to ``protocol_b.py``): gamma
    ``VAL_GAMMAS_B[i % 10]``, a light field of protocol B's kind, 300 photons and read std 0.004,
    drawn from a generator seeded by ``(seed, i)``.

    Args:
        paths: the bright images (the protocols sort them by file name).
        size: side of the square images.
        variant: ``"a"`` or ``"b"``.
        seed: base seed of variant ``"b"`` (>= 0).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        size: int = 256,
        variant: Literal["a", "b"] = "a",
        seed: int = 0,
    ) -> None:
        super().__init__(paths)
        if not size > 0:
            raise ValueError(f"size must be > 0, got {size!r}")
        if variant not in ("a", "b"):
            raise ValueError(f"variant must be 'a' or 'b', got {variant!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed!r}")
        self.size = size
        self.variant = variant
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def gamma(self, index: int) -> float:
        """The gamma of item ``index``."""
        gammas = VAL_GAMMAS_A if self.variant == "a" else VAL_GAMMAS_B
        return float(gammas[index % len(gammas)])

    def __getitem__(self, index: int) -> Item:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        path, image = self._read(index)
        gt = resize_image(image[None], (self.size, self.size))  # (1, 3, size, size)
        dark = gamma_darken(gt, self.gamma(index))
        if self.variant == "b":
            generator = seeded_generator(self.seed, _VAL_STREAM, index)
            light = light_field(1, self.size, self.size, VAL_LIGHT_B, generator, dtype=gt.dtype)
            dark = poisson_gaussian_noise(dark * light, VAL_PHOTONS_B, VAL_READ_STD_B, generator)
        return {"lq": quantize_8bit(dark)[0], "gt": gt[0], "path": str(path), "index": index}


class EpochSampler(DistributedSampler):
    """Yields this rank's share of ``(epoch, 0), ..., (epoch, length - 1)`` for the keyed datasets.

    With ``num_replicas`` processes (DDP ranks), rank ``r`` yields the indices ``r, r + W, r + 2W,
    ...`` (``W = num_replicas``): the ranks' shares are disjoint, of equal size, and together they
    are the whole epoch. Step ``s`` of rank ``r`` therefore holds the indices ``(s B + j) W + r``
    (``B`` the per-rank batch size, ``j < B``), so that the step's items across all ranks are
    exactly those of step ``s`` of a single process with batch size ``W B``: since every item is a
    pure function of ``(seed, epoch, index)``, the number of ranks changes nothing but how a
    batch is split. ``length`` must be a multiple of ``num_replicas`` (:class:`LowLightDataModule`
    rounds the epoch up); uneven shares would make one rank wait forever for the others'
    gradient exchange.

    It is a :class:`~torch.utils.data.distributed.DistributedSampler`, so Lightning uses it as it
    is (Lightning replaces or wraps any other sampler when ``use_distributed_sampler``).
    Lightning calls :meth:`set_epoch` before each training epoch. The epoch travels inside each
    key, so DataLoader workers, persistent ones included, never hold a stale epoch.

    Args:
        length: items per epoch, all ranks together (> 0, a multiple of ``num_replicas``).
        num_replicas: number of processes sharing the epoch (DDP world size, >= 1).
        rank: this process's rank, in ``0 .. num_replicas - 1``.
    """

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not length > 0:
            raise ValueError(f"length must be > 0, got {length!r}")
        if not num_replicas >= 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in 0..{num_replicas - 1}, got {rank!r}")
        if length % num_replicas:
            raise ValueError(
                f"length {length} is not a multiple of num_replicas {num_replicas}: the ranks would get "
                "uneven shares (round the epoch up, as LowLightDataModule does)"
            )
        super().__init__(range(length), num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.length = length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((epoch, index) for index in range(self.rank, self.length, self.num_replicas))

    def __len__(self) -> int:
        return self.length // self.num_replicas


def round_up_to_multiple(length: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` (>= 1) that is >= ``length`` (>= 0)."""
    if multiple < 1 or length < 0:
        raise ValueError(f"expected length >= 0 and multiple >= 1, got {length!r} and {multiple!r}")
    return -(-length // multiple) * multiple
