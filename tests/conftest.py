"""Shared fixtures: the optional ../shared folder, small generated photos, protocol_b.py loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from tests.images import structured_image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout; tests that need it skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DIR} (not part of a clone)")
    return SHARED_DIR


def shared_path(relative: str) -> Path:
    """A path under ../shared, or a clean skip naming what is missing."""
    path = SHARED_DIR / relative
    if not path.exists():
        pytest.skip(f"needs {path} (shared data, not part of a clone)")
    return path


def textured_image(height: int, width: int, seed: int) -> np.ndarray:
    """:func:`tests.images.structured_image` at 80 % plus many small blobs (so that SIFT finds
    keypoints): mid-tone like a photo, rarely saturated, so that darkening lowers its median.

    Returns:
        (height, width, 3) uint8.
    """
    rng = np.random.default_rng(seed)
    image = 0.8 * structured_image(height, width, seed=seed).astype(np.float64) / 255
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(40):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(1.5, 6)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = rng.uniform(0, 0.9, 3)
    return np.round(image * 255).astype(np.uint8)


def write_textured_images(folder: Path, count: int, size: tuple[int, int], seed: int) -> list[Path]:
    """``count`` PNGs ``photo_{i}.png`` of :func:`textured_image`; returns them sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i}.png"
        Image.fromarray(textured_image(*size, seed=seed + i)).save(path)
        paths.append(path)
    return sorted(paths)


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three textured RGB PNGs (96 x 128), resized to 256 x 256 by the protocol."""
    folder = tmp_path_factory.mktemp("photos")
    write_textured_images(folder, 3, size=(96, 128), seed=7)
    return folder


@pytest.fixture(scope="session")
def protocol_b_reference() -> ModuleType:
    """``../shared/protocol_b.py`` imported by file path (skips when ../shared is absent)."""
    path = shared_path("protocol_b.py")
    spec = importlib.util.spec_from_file_location("shared_protocol_b", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
