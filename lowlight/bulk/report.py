"""One-line messages of a command-line tool (``<prog>: error: ...``), written above a progress bar."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from tqdm import tqdm


@dataclass(frozen=True)
class Report:
    """Writes ``<prog>: error|warning|note: <line>`` to stderr, one line each.

    Attributes:
        prog: the tool's name as the user typed it, e.g. ``"infer.py"``.
    """

    prog: str = "infer.py"

    def error(self, line: str) -> None:
        """A failure of one input (the others go on)."""
        tqdm.write(f"{self.prog}: error: {line}", file=sys.stderr)

    def warning(self, line: str) -> None:
        """Something the user may want to change."""
        tqdm.write(f"{self.prog}: warning: {line}", file=sys.stderr)

    def note(self, line: str) -> None:
        """Something harmless the user should know."""
        tqdm.write(f"{self.prog}: note: {line}", file=sys.stderr)


def one_line(err: BaseException) -> str:
    """An exception's message on one line (the first line of a multi-line one)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
