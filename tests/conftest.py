"""Shared fixtures: the optional ../shared folder and small generated images."""

from __future__ import annotations

from pathlib import Path

import pytest

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
