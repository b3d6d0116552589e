"""Run a command as the processes of one distributed job, started the way ``torchrun`` starts them.

Every process gets torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``LOCAL_WORLD_SIZE``, ``GROUP_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``, ``TORCHELASTIC_RUN_ID``),
so Lightning sees an external launcher (its ``TorchElasticEnvironment``, the multi-node path) and
starts no process itself. All processes start at once: on a small machine that halves the wait
for Python and torch to import, compared with Lightning's own launcher, which starts the other
ranks only when rank 0 reaches ``fit`` / ``predict``.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ProcessResult:
    """One rank's exit status and output."""

    rank: int
    returncode: int
    stdout: str
    stderr: str


def free_port() -> int:
    """A TCP port nobody listens on right now (for ``MASTER_PORT``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_like_torchrun(command: Sequence[str], nprocs: int, cwd: Path, env: Mapping[str, str] | None = None,
                      timeout: float = 600) -> list[ProcessResult]:
    """Start ``command`` ``nprocs`` times on this machine as ranks ``0 .. nprocs - 1`` and wait.

    Args:
        command: the program and its arguments (e.g. ``[sys.executable, "infer.py", ...]``).
        nprocs: processes (ranks) on this one node.
        cwd: working folder of every process.
        env: extra environment variables (on top of this process's).
        timeout: seconds before every process still running is killed (then it raises).

    Returns:
        One :class:`ProcessResult` per rank, in rank order.
    """
    port = free_port()
    processes = []
    for rank in range(nprocs):
        rank_env = {
            **os.environ, **(env or {}),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(nprocs),
            "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(nprocs), "GROUP_RANK": "0",
            "ROLE_RANK": str(rank), "ROLE_WORLD_SIZE": str(nprocs), "TORCHELASTIC_RUN_ID": "lowlight-test",
        }
        processes.append(subprocess.Popen(list(command), cwd=cwd, env=rank_env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    try:
        for rank, process in enumerate(processes):
            stdout, stderr = process.communicate(timeout=timeout)
            results.append(ProcessResult(rank, process.returncode, stdout, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results
