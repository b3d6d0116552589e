"""Which file each input of ``infer.py`` writes, checked before anything is written.

Every planned name (``<stem>.png`` and, with ``--uncertainty``, ``<stem>_std.png``) is checked
against every input and every other planned name; an input given twice is enhanced once; an
existing file is replaced only with ``overwrite``. Names are compared as resolved paths, and
case-insensitively where the output folder's file system ignores case.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: suffix of the uncertainty map beside the enhanced image
STD_SUFFIX = "_std"


@dataclass
class OutputPlan:
    """The outcome of :func:`plan_outputs`.

    Attributes:
        targets: each kept input (in order) and its output files: the image, then the std map.
        errors: one line per refused input (it is not enhanced; counts as failed).
        notes: one line per harmless oddity (an input given twice: enhanced once).
    """

    targets: dict[Path, list[Path]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def output_names(source: Path, outdir: Path, uncertainty: bool) -> list[Path]:
    """``outdir/<stem>.png`` (a video: ``<stem>.mp4``) and, with ``uncertainty``, ``outdir/<stem>_std.png``
    (images only)."""
    from lowlight.video.reader import is_video_file

    if is_video_file(source):
        return [outdir / f"{source.stem}.mp4"]
    names = [outdir / f"{source.stem}.png"]
    if uncertainty:
        names.append(outdir / f"{source.stem}{STD_SUFFIX}.png")
    return names


def plan_outputs(files: list[Path], outdir: Path, uncertainty: bool = False, overwrite: bool = False) -> OutputPlan:
    """Map each input to its output files, refusing any that would lose a file.

    An input is refused (an error line, nothing written for it) when one of its outputs

    - is an input (any of ``files``, the image itself included);
    - is also the output of an earlier input (the first one keeps the name);
    - exists already and ``overwrite`` is false.

    Args:
        files: the inputs, in order; duplicates (same resolved path) are kept once, with a note.
        outdir: the output folder (may not exist yet).
        uncertainty: also plan the ``_std`` maps.
        overwrite: allow replacing existing files that are not inputs.

    Returns:
        :class:`OutputPlan`.
    """
    plan = OutputPlan()
    fold = _case_folder(outdir)
    unique: dict[str, Path] = {}
    for f in files:
        key = fold(f)
        if key in unique:
            plan.notes.append(f"{f}: given more than once; enhanced once")
        else:
            unique[key] = f
    inputs = set(unique)
    taken: dict[str, Path] = {}  # output name -> the input that writes it
    for f in unique.values():
        names = output_names(f, outdir, uncertainty)
        problem = None
        for name in names:
            key = fold(name)
            if key in inputs:
                problem = f"output {name} would overwrite an input; choose another -o folder"
            elif key in taken:
                problem = f"output {name} is also the output of {taken[key]}; rename one of them"
            elif name.exists() and not overwrite:
                problem = f"output {name} exists; refusing to overwrite it (use --overwrite)"
            if problem:
                break
        if problem:
            plan.errors.append(f"{f}: {problem}")
            continue
        for name in names:
            taken[fold(name)] = f
        plan.targets[f] = names
    return plan


def _case_folder(outdir: Path) -> Callable[[Path], str]:
    """Key of a path for comparisons: resolved, and lower-cased on a case-insensitive folder."""
    insensitive = _case_insensitive(outdir)

    def key(path: Path) -> str:
        text = os.path.normcase(str(Path(path).resolve()))
        return text.lower() if insensitive else text

    return key


def _case_insensitive(folder: Path) -> bool:
    """True when ``folder`` (or its nearest existing parent) ignores case in file names."""
    probe = Path(folder).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.name.swapcase() == probe.name:  # "/" or no letters: cannot tell, assume not
        return False
    other = probe.parent / probe.name.swapcase()
    return other.exists() and os.path.samefile(other, probe)
