"""The evaluated image set: a COCO ``instances_*.json`` or a folder, sorted by file name, resized.

PROTOCOL.md: each ground-truth image is converted to RGB and resized to 256 x 256 (bilinear,
antialiased), then kept as float in [0, 1]. For a COCO JSON the images are the ones it lists, read
from the split folder beside ``annotations/`` (``.../annotations/instances_val2017.json`` ->
``.../val2017/``), sorted by file name; the 0-based position in that order is the image index
that protocol B seeds its noise with.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.checks import check_image, check_positive
from lowlight.ops.resize import resize_image
from lowlight.data import sources
from lowlight.io.images import list_images, read_image

PROTOCOL_SIZE = 256


class ImageSetError(ValueError):
    """The ``--images`` argument names no usable image set (a user mistake, not a bug)."""


def coco_image_paths(annotation_json: Path) -> list[Path]:
    """The images a COCO ``instances_*.json`` lists, sorted by file name, all present on disk.

    A wrapper of :func:`lowlight.data.sources.coco_image_paths` that turns every way the file
    can be wrong into one :class:`ImageSetError`.

    Raises:
        ImageSetError: missing, not JSON, not a COCO annotation file (no listed images), its split
            folder missing, or a listed image missing.
    """
    try:
        paths = sources.coco_image_paths(annotation_json)
    except FileNotFoundError as err:
        raise ImageSetError(str(err)) from err
    except (ValueError, AssertionError, KeyError, TypeError, AttributeError) as err:
        # json.JSONDecodeError is a ValueError; pycocotools asserts a dict and indexes its keys.
        raise ImageSetError(
            f"{annotation_json}: not a COCO annotation file ({type(err).__name__}: {err})"
        ) from err
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ImageSetError(
            f"{annotation_json}: {len(missing)} listed image(s) missing, e.g. {missing[0]}"
        )
    return paths


def image_set_paths(source: Path, max_images: int | None = None) -> list[Path]:
    """The evaluated image files: a COCO JSON's images or a folder's images, sorted by file name.

    Args:
        source: a COCO ``instances_*.json`` or a folder of images.
        max_images: keep only the first ``max_images`` (indices are unchanged by the cut).

    Raises:
        ImageSetError: ``source`` is missing, of the wrong kind, or holds no image.
    """
    source = Path(source)
    if max_images is not None:
        check_positive(max_images, "max_images")
    if not source.exists():
        raise ImageSetError(f"{source}: no such file or folder")
    if source.is_dir():
        paths = sorted(list_images(source), key=lambda p: p.name)
    elif source.suffix.lower() == ".json":
        paths = coco_image_paths(source)
    else:
        raise ImageSetError(f"{source}: expected a COCO instances_*.json file or an image folder")
    if not paths:
        raise ImageSetError(f"{source}: no images found")
    return paths[:max_images] if max_images is not None else paths


def resize_exact(image: Tensor, height: int, width: int) -> Tensor:
    """Bilinear, antialiased resize (the protocol's resize), clamped to [0, 1].

    Args:
        image: (B, C, H, W) float in [0, 1].

    Returns:
        (B, C, height, width), same dtype.
    """
    return resize_image(image, (height, width))


def resize_longer_side(image: Tensor, longer_side: int) -> Tensor:
    """Resize so that the longer side is ``longer_side``, keeping the aspect ratio.

    Args:
        image: (B, C, H, W) float in [0, 1].

    Returns:
        (B, C, H', W') with max(H', W') == longer_side.
    """
    check_image(image, None, "image")
    check_positive(longer_side, "longer_side")
    height, width = image.shape[-2:]
    scale = longer_side / max(height, width)
    new_height = max(1, round(height * scale))
    new_width = max(1, round(width * scale))
    return resize_exact(image, new_height, new_width)


def load_ground_truth(path: Path, size: int = PROTOCOL_SIZE) -> Tensor:
    """Read one image as the protocol's ground truth.

    Returns:
        (1, 3, size, size) float32 in [0, 1].
    """
    image = read_image(path)[None]  # (1, 3, H, W)
    return resize_exact(image, size, size).to(torch.float32)


def load_native_truth(path: Path, upscale: int = 1) -> Tensor:
    """Read one image at its own resolution, optionally enlarged (the native-resolution mode).

    Enlarging (bicubic, antialiased) makes camera-sized versions of a small photo set: the
    protocols' darkening is then applied at that size.

    Args:
        path: an image file.
        upscale: integer enlargement factor, >= 1.

    Returns:
        (1, 3, H * upscale, W * upscale) float32 in [0, 1].
    """
    check_positive(upscale, "upscale")
    image = read_image(path)[None].to(torch.float32)  # (1, 3, H, W)
    if upscale == 1:
        return image
    height, width = image.shape[-2:]
    return F.interpolate(image, size=(height * upscale, width * upscale), mode="bicubic",
                         align_corners=False).clamp(0.0, 1.0)
