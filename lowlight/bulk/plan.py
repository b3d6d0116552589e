"""What a bulk job does with each input, decided once, and the plan file every rank reads its share of.

A planner (``infer.py``'s, in :mod:`lowlight.cli.output_plan`) turns the inputs into a stream of
:data:`PlanEvent` s: an input to enhance with its output files (:class:`Planned`), an input
refused with one error line (:class:`Refused`), a note (:class:`Noted`), or an input whose outputs
exist already (:class:`Skipped`, with ``--skip-existing``). With several processes, global rank 0
runs the planner alone and writes the planned inputs to a plan file in the output folder (which
every rank, on every node, can read: the output folder must be shared), one JSON array per line;
rank ``r`` of ``W`` then enhances the entries ``r, r + W, r + 2W, ...``. So each input is
enhanced exactly once, by one rank, and no rank holds the whole list in memory.

The plan file is an :func:`lowlight.io.atomic.atomic_path`-style hidden temporary file
(``.lowlight-plan.<pid>.<random>.lowlight-tmp``): rank 0 removes it at the end, and a killed
job's is removed by the next run into the folder, with the other leftovers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lowlight.bulk.report import Report
from lowlight.io.atomic import TEMP_SUFFIX

InputKind = Literal["image", "video"]


@dataclass(frozen=True)
class Planned:
    """An input to enhance.

    Attributes:
        path: the input file.
        targets: its output files: ``<stem>.png`` then, with uncertainty, ``<stem>_std.png``; a
            video: ``<stem>.mp4``.
        kind: ``"image"`` or ``"video"``.
    """

    path: Path
    targets: tuple[Path, ...]
    kind: InputKind = "image"


@dataclass(frozen=True)
class Refused:
    """An input that is not enhanced; ``line`` says why (an error: it counts as failed)."""

    line: str


@dataclass(frozen=True)
class Noted:
    """A harmless oddity, e.g. an input given twice (enhanced once)."""

    line: str


@dataclass(frozen=True)
class Skipped:
    """An input whose every output exists already (``--skip-existing``): not enhanced again."""

    path: Path


PlanEvent = Planned | Refused | Noted | Skipped


@dataclass(frozen=True)
class PlanFile:
    """A written plan: where, how many inputs to enhance, and what planning refused or skipped.

    Attributes:
        path: the plan file (one JSON array ``[input, [targets...], kind]`` per line).
        planned: number of entries (inputs to enhance).
        refused: inputs refused while planning (each reported by one error line).
        skipped: inputs skipped because their outputs exist.
    """

    path: Path
    planned: int
    refused: int
    skipped: int


def write_plan_file(events: Iterable[PlanEvent], folder: Path, report: Report) -> PlanFile:
    """Stream ``events`` into a new plan file in ``folder``, reporting refusals and notes.

    Args:
        events: the planner's events, in input order.
        folder: the output folder (exists; shared by every rank of the job).
        report: where error and note lines go.

    Returns:
        :class:`PlanFile`; the caller removes ``path`` when the job is done.
    """
    fd, name = tempfile.mkstemp(prefix=f".lowlight-plan.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=folder)
    planned = refused = skipped = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for event in events:
                if isinstance(event, Planned):
                    entry = [os.fsdecode(event.path), [os.fsdecode(t) for t in event.targets], event.kind]
                    out.write(json.dumps(entry) + "\n")  # ASCII: any file name survives, even one with a newline
                    planned += 1
                elif isinstance(event, Refused):
                    report.error(event.line)
                    refused += 1
                elif isinstance(event, Noted):
                    report.note(event.line)
                else:
                    skipped += 1
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return PlanFile(Path(name), planned, refused, skipped)


def read_plan_share(path: Path, rank: int = 0, world_size: int = 1) -> Iterator[Planned]:
    """The entries of plan file ``path`` that rank ``rank`` of ``world_size`` enhances:
    ``rank, rank + world_size, ...`` (0-based, in file order), read line by line.

    Raises:
        ValueError: ``rank`` outside ``0 .. world_size - 1``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank!r}")
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number % world_size == rank:
                source, targets, kind = json.loads(line)
                yield Planned(Path(source), tuple(Path(t) for t in targets), kind)


def share_size(total: int, rank: int, world_size: int) -> int:
    """How many of ``total`` entries rank ``rank`` of ``world_size`` gets (see :func:`read_plan_share`)."""
    return len(range(rank, total, world_size))
