"""Reading and writing images: every mode a user's photo may come in, and atomic writes.

Conversions (documented for users in the README):
- grayscale (``1``, ``L``, ``I;16``, ``I``, ``F``) -> the value copied to R, G and B;
- 16-bit -> scaled by 1/65535 (full precision kept for grayscale; Pillow reduces 16-bit RGB PNGs
  to 8 bits on reading);
- palette (``P``) and ``CMYK``/``YCbCr``/``LAB`` -> RGB through Pillow;
- alpha (``RGBA``, ``LA``, ``PA``) -> composited over black, since a transparent pixel carries no
  light;
- animated files (GIF, WEBP, TIFF pages) -> their first frame (:func:`frame_count` tells).

Size limit: ``max_pixels`` is checked from the header, before any pixel is decoded, and Pillow's
own decompression-bomb guard is held to the same limit while the file is open, so a huge
declared size is one :class:`ImageReadError` like any other bad input.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from lowlight.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
DEFAULT_MAX_PIXELS = 64_000_000  # about 8K x 8K; an enhancement of that size needs ~30 GB

_PILLOW_LIMIT_LOCK = threading.Lock()


class ImageReadError(ValueError):
    """An input file is missing, not an image, truncated, or too large."""


def is_image_file(path: Path) -> bool:
    """True for a regular file whose suffix is one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a directory.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """Read an image file as RGB.

    Args:
        path: the file.
        max_pixels: refuse images with more pixels than this (a decompression bomb or a mistake).

    Returns:
        (3, H, W) float32 in [0, 1].

    Raises:
        ImageReadError: missing, empty, not an image, truncated, or larger than ``max_pixels``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        with _pillow_limit(max_pixels), Image.open(path) as img:
            if img.width * img.height > max_pixels:  # from the header: nothing decoded yet
                raise ImageReadError(
                    f"{path}: {img.width} x {img.height} image exceeds the limit of {max_pixels} pixels"
                )
            img.load()
            img = ImageOps.exif_transpose(img)
            array = _to_rgb_array(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as err:  # Pillow's guard (held to max_pixels) fired first
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"image of {found.group(1)} pixels" if found else "image"
        raise ImageReadError(f"{path}: {size} exceeds the limit of {max_pixels} pixels") from err
    except (OSError, SyntaxError, ValueError) as err:
        # Pillow reports "cannot identify image file" and "image file is truncated" as OSError.
        raise ImageReadError(f"{path}: not a readable image ({err})") from err
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # (3, H, W)


def frame_count(path: Path) -> int:
    """Frames (or pages) in an image file; 1 for a still image or one Pillow cannot read.

    :func:`read_image` uses the first frame only; callers say so when this is more than 1.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return int(getattr(img, "n_frames", 1))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):  # read_image reports it
        return 1


@contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Hold Pillow's decompression-bomb guard to ``max_pixels`` while a file is opened and decoded.

    Pillow checks declared sizes in ``Image.open`` and while decoding some formats (GIF frames):
    it warns above ``Image.MAX_IMAGE_PIXELS`` and raises ``DecompressionBombError`` above twice
    that. Set to ``max_pixels``, the warning says what :func:`read_image` checks itself (and is
    silenced), and the error can only fire for sizes beyond the limit.
    """
    with _PILLOW_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow image -> (H, W, 3) float32 in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        gray = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or gray.max(initial=0) > 255 else 255.0
        gray = np.clip(gray / scale, 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if mode == "F":
        gray = np.asarray(img, dtype=np.float64)
        gray = np.clip(gray / (255.0 if gray.max(initial=0) > 1.0 else 1.0), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[..., :3] * rgba[..., 3:4]  # composited over black
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def to_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounding to nearest."""
    if image.ndim != 3 or image.shape[0] != 3:  # io sits beside ops, so it has its own check
        raise ValueError(f"image: expected (3, H, W), got {tuple(image.shape)}")
    array = (image.detach().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return array.permute(1, 2, 0).cpu().numpy()


def write_png(image: Tensor | np.ndarray, path: Path) -> None:
    """Write an 8-bit PNG atomically: to a temporary name in the same folder, then renamed.

    Args:
        image: (3, H, W) float tensor in [0, 1], (H, W, 3) or (H, W) uint8 array.
        path: the destination; its folder must exist. An interrupted write leaves no file behind.
    """
    path = Path(path)
    array = to_uint8(image) if isinstance(image, Tensor) else image
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
