"""Atomic output files: written under a temporary name in the destination folder, then renamed.

An interrupted or failed write leaves no half-written file behind. The file gets the mode a
plain ``open(path, "w")`` would give it (0o666 less the umask), not ``mkstemp``'s private 0o600.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path``.

    Args:
        path: the destination; its folder must exist.

    Yields:
        A fresh empty file ``.<name>.<random>.part`` in the same folder, to write to.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
