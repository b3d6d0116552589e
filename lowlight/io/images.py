"""Reading and writing images: every mode a user's photo may come in, and atomic writes.

Conversions (documented for users in the README):
- grayscale (``1``, ``L``, ``I;16``, ``I``, ``F``) -> the value copied to R, G and B;
- 16-bit -> scaled by 1/65535 (full precision kept for grayscale; Pillow reduces 16-bit RGB PNGs
  to 8 bits on reading);
- palette (``P``) and ``CMYK``/``YCbCr``/``LAB`` -> RGB through Pillow;
- alpha (``RGBA``, ``LA``, ``PA``) -> composited over black, since a transparent pixel carries no
  light.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from lowlight.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_MAX_PIXELS = 64_000_000  # about 8K x 8K; an enhancement of that size needs ~30 GB


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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > max_pixels:
                    raise ImageReadError(
                        f"{path}: {img.width} x {img.height} image exceeds the limit of "
                        f"{max_pixels} pixels"
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                array = _to_rgb_array(img)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as err:
        # Pillow reports "cannot identify image file" and "image file is truncated" as OSError.
        raise ImageReadError(f"{path}: not a readable image ({err})") from err
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # (3, H, W)


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
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected (3, H, W), got {tuple(image.shape)}")
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
