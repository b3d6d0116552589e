"""Peak resident memory of the running program (standard library only)."""

from __future__ import annotations

import resource
import sys


def peak_rss_gb() -> float:
    """Peak resident set size of this program so far, in GB (1e9 bytes).

    On Linux, ``VmHWM`` of ``/proc/self/status``: the high-water mark of this program's own address
    space. ``getrusage``'s ``ru_maxrss`` is no use in a fresh subprocess there: it survives
    ``execve``, so it starts at the peak of the process that spawned it (a benchmark that already
    ran other sections, or pytest). Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e9  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9
