"""Atomic output files: written under a temporary name in the destination folder, then renamed.

An interrupted or failed write leaves no half-written file behind. The file gets the mode a
plain ``open(path, "w")`` would give it (0o666 less the umask), not ``mkstemp``'s private 0o600.

A process killed mid-write (SIGKILL, power loss) cannot clean up: its temporary file stays. The
name ``.<name>.<pid>.<random>.lowlight-tmp`` is hidden, never taken for an image (its suffix is
not one), and carries the writer's process id, so :func:`remove_stale_temp_files` removes the
leftovers of dead processes without touching a write in progress.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: suffix of every temporary file :func:`atomic_path` creates
TEMP_SUFFIX = ".lowlight-tmp"


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
        A fresh empty file ``.<name>.<pid>.<random>.lowlight-tmp`` in the same folder, to write to.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder`` (not those of live ones).

    Args:
        folder: a folder that :func:`atomic_path` may have written into; missing is fine.

    Returns:
        the removed files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in sorted(folder.glob(f".*{TEMP_SUFFIX}")):
        pid = _writer_pid(tmp)
        if pid is not None and _process_alive(pid):  # a write in progress (this process's too)
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _writer_pid(tmp: Path) -> int | None:
    """The process id in ``.<name>.<pid>.<random>.lowlight-tmp``, or ``None`` if there is none."""
    parts = tmp.name.removesuffix(TEMP_SUFFIX).split(".")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
