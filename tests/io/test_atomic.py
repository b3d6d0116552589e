from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lowlight.io.atomic import atomic_path


def test_replaces_the_destination_with_the_umask_mode(tmp_path: Path) -> None:
    destination = tmp_path / "out.txt"
    destination.write_text("old")
    previous = os.umask(0o022)
    try:
        with atomic_path(destination) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(f".out.txt.{os.getpid()}.") and tmp.name.endswith(".lowlight-tmp")
            tmp.write_text("new")
            assert destination.read_text() == "old"  # untouched until the block ends
    finally:
        os.umask(previous)
    assert destination.read_text() == "new"
    assert stat.S_IMODE(destination.stat().st_mode) == 0o644  # not mkstemp's 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    destination = tmp_path / "out.png"
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(destination) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    from lowlight.io.atomic import remove_stale_temp_files

    dead = tmp_path / ".a.png.999999999.x1.lowlight-tmp"
    live = tmp_path / f".b.png.{os.getpid()}.x2.lowlight-tmp"
    other = tmp_path / ".c.png.x3.part"
    for path in (dead, live, other):
        path.write_bytes(b"half")
    assert remove_stale_temp_files(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
    assert remove_stale_temp_files(tmp_path / "missing") == []
