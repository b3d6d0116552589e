"""Small generated images and a tiny COCO split, written into a test's tmp_path.

Everything is deterministic (numpy generators seeded by the caller) and tiny, so that tests stay
fast. Reused by tests of other packages: keep the signatures stable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def structured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A random but photo-like picture: a colour gradient with a few rectangles and discs.

    Returns:
        (height, width, 3) uint8.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    yy, xx = yy / max(height - 1, 1), xx / max(width - 1, 1)
    start, slope_y, slope_x = rng.uniform(0, 1, (3, 3))
    image = start + 0.5 * (slope_y - 0.5) * yy[..., None] + 0.5 * (slope_x - 0.5) * xx[..., None]
    for _ in range(rng.integers(2, 5)):
        colour = rng.uniform(0, 1, 3)
        top, left = rng.integers(0, height), rng.integers(0, width)
        box_height, box_width = rng.integers(2, height // 2 + 3), rng.integers(2, width // 2 + 3)
        image[top : top + box_height, left : left + box_width] = colour
    for _ in range(rng.integers(1, 4)):
        colour = rng.uniform(0, 1, 3)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(2, max(height, width) / 3)
        distance2 = (np.arange(height)[:, None] - cy) ** 2 + (np.arange(width)[None] - cx) ** 2
        inside = distance2 < radius**2
        image[inside] = colour
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def write_images(
    folder: Path,
    count: int,
    size: tuple[int, int] = (40, 56),
    suffixes: tuple[str, ...] = (".png", ".jpg"),
    seed: int = 0,
    prefix: str = "img",
) -> list[Path]:
    """Write ``count`` structured RGB images ``{prefix}_{i:03d}{suffix}``, cycling through suffixes.

    Args:
        folder: created if missing.
        size: (height, width).

    Returns:
        the paths, sorted by name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}_{i:03d}{suffixes[i % len(suffixes)]}"
        Image.fromarray(structured_image(*size, seed=seed * 1000 + i)).save(path, quality=95)
        paths.append(path)
    return sorted(paths)


def write_coco_split(
    root: Path,
    split: str = "train2017",
    count: int = 4,
    size: tuple[int, int] = (40, 56),
    unlisted: int = 0,
    seed: int = 0,
) -> Path:
    """A COCO split in the official layout, with JPEG images and an annotation file.

    ``root/annotations/instances_{split}.json`` lists ``count`` images of ``root/{split}/`` (named
    like COCO's, 12-digit ids, written in a shuffled order so that listing order != name order);
    ``unlisted`` more images lie in the folder without being listed.

    Returns:
        the annotation file's path.
    """
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in rng.choice(999_999, size=count + unlisted, replace=False) + 1]
    image_dir = root / split
    image_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for n, image_id in enumerate(ids):
        name = f"{image_id:012d}.jpg"
        picture = structured_image(*size, seed=seed * 1000 + n)
        Image.fromarray(picture).save(image_dir / name, quality=95)
        if n < count:
            entries.append({
                "id": image_id, "file_name": name, "width": size[1], "height": size[0], "license": 1
            })
    rng.shuffle(entries)
    annotation = {
        "info": {"description": "generated for tests", "year": 2017},
        "licenses": [{"id": 1, "name": "test", "url": ""}],
        "images": entries,
        "annotations": [],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    json_path = root / "annotations" / f"instances_{split}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(annotation))
    return json_path


def write_bad_images(folder: Path) -> list[Path]:
    """Three unreadable files with image suffixes: empty, a truncated JPEG, text named ``.png``.

    Returns:
        their paths, sorted by name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "bad_empty.png"
    empty.write_bytes(b"")
    whole = folder / "whole.jpg.tmp"
    Image.fromarray(structured_image(64, 64, seed=99)).save(whole, format="JPEG", quality=95)
    truncated = folder / "bad_truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    text = folder / "bad_text.png"
    text.write_text("this is not an image\n")
    return sorted([empty, truncated, text])


def write_mode_images(
    folder: Path, size: tuple[int, int] = (24, 32), seed: int = 0
) -> dict[str, tuple[Path, np.ndarray]]:
    """Images in modes that need converting, with the RGB each must read as.

    Modes: ``gray`` (8-bit L PNG), ``rgba`` (PNG, composited over black), ``cmyk`` (TIFF with
    K = 0, so RGB = 255 - CMY), ``gray16`` (16-bit PNG, scaled by 1/65535).

    Returns:
        name -> (path, expected (H, W, 3) float64 in [0, 1]).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = size
    rgb = structured_image(height, width, seed=seed)
    out: dict[str, tuple[Path, np.ndarray]] = {}

    gray = rng.integers(0, 256, size, dtype=np.uint8)
    out["gray"] = (folder / "mode_gray.png", np.repeat(gray[..., None] / 255.0, 3, axis=2))
    Image.fromarray(gray).save(out["gray"][0])

    alpha = rng.integers(0, 256, size, dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
    out["rgba"] = (folder / "mode_rgba.png", rgb / 255.0 * (alpha[..., None] / 255.0))
    Image.fromarray(rgba).save(out["rgba"][0])

    cmyk = np.concatenate([255 - rgb, np.zeros((height, width, 1), np.uint8)], axis=2)
    out["cmyk"] = (folder / "mode_cmyk.tif", rgb / 255.0)
    Image.frombytes("CMYK", (width, height), cmyk.tobytes()).save(out["cmyk"][0])

    gray16 = rng.integers(0, 65536, size, dtype=np.uint16)
    out["gray16"] = (folder / "mode_gray16.png", np.repeat(gray16[..., None] / 65535.0, 3, axis=2))
    Image.fromarray(gray16).save(out["gray16"][0])
    return out
