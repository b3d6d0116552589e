"""Errors the command-line tools report as one line, never as a traceback."""

from __future__ import annotations

from lowlight.io.exit_status import EXIT_INTERRUPTED

__all__ = ["EXIT_INTERRUPTED", "UsageError"]


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""
