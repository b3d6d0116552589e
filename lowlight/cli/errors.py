"""Errors the command-line tools report as one line, never as a traceback."""

from __future__ import annotations

#: exit status after Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""
