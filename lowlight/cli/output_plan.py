"""Which file each input of ``infer.py`` writes, checked before anything is written.

Every planned name (``<stem>.png`` and, with ``--uncertainty``, ``<stem>_std.png``) is checked
against every input and every other planned name; an input given twice is enhanced once; an
existing file is replaced only with ``overwrite``; with ``skip_existing`` an input whose outputs
all exist is skipped (a killed run leaves only complete files: they are written under a temporary
name and renamed), one whose outputs exist in part is enhanced again. Names are compared as
resolved paths, and case-insensitively where the output folder's file system ignores case.

:func:`plan_outputs` plans a list in memory; :func:`plan_stream` plans a manifest of any length
as it reads it (see there for what it keeps).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lowlight.bulk.plan import Noted, Planned, PlanEvent, Refused, Skipped

#: suffix of the uncertainty map beside the enhanced image
STD_SUFFIX = "_std"


@dataclass
class OutputPlan:
    """The outcome of :func:`plan_outputs`.

    Attributes:
        targets: each kept input (in order) and its output files: the image, then the std map.
        errors: one line per refused input (it is not enhanced; counts as failed).
        notes: one line per harmless oddity (an input given twice: enhanced once).
        skipped: inputs whose outputs all exist (``skip_existing``): not enhanced.
    """

    targets: dict[Path, list[Path]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def events(self) -> Iterator[PlanEvent]:
        """The plan as events: errors, then notes, then skipped and planned inputs in order."""
        from lowlight.video.reader import is_video_file

        yield from (Refused(line) for line in self.errors)
        yield from (Noted(line) for line in self.notes)
        yield from (Skipped(path) for path in self.skipped)
        for path, names in self.targets.items():
            yield Planned(path, tuple(names), "video" if is_video_file(path) else "image")


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


def plan_outputs(files: list[Path], outdir: Path, uncertainty: bool = False, overwrite: bool = False,
                 skip_existing: bool = False) -> OutputPlan:
    """Map each input to its output files, refusing any that would lose a file.

    An input is refused (an error line, nothing written for it) when one of its outputs

    - is an input (any of ``files``, the image itself included);
    - is also the output of an earlier input (the first one keeps the name);
    - exists already and neither ``overwrite`` nor ``skip_existing`` is set.

    With ``skip_existing`` an input whose outputs all exist is skipped (its names stay taken, as
    in the run that wrote them), and one whose outputs exist only in part is planned.

    Args:
        files: the inputs, in order; duplicates (same resolved path) are kept once, with a note.
        outdir: the output folder (may not exist yet).
        uncertainty: also plan the ``_std`` maps.
        overwrite: allow replacing existing files that are not inputs.
        skip_existing: skip inputs whose outputs exist (resume a killed job).

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
        keys = [fold(name) for name in names]
        decision = _decide(names, keys, inputs.__contains__, taken, overwrite, skip_existing)
        if isinstance(decision, str):
            plan.errors.append(f"{f}: {decision}")
            continue
        for key in keys:
            taken[key] = f
        if decision:
            plan.skipped.append(f)
        else:
            plan.targets[f] = names
    return plan


def _decide(names: list[Path], keys: list[str], is_input: Callable[[str], bool], taken: dict[str, Path],
            overwrite: bool, skip_existing: bool) -> str | bool:
    """One input's fate from its output names (and their keys): the reason it is refused, or
    ``True`` to skip it (its outputs all exist, ``skip_existing``), or ``False`` to enhance it."""
    for name, key in zip(names, keys, strict=True):
        if is_input(key):
            return f"output {name} would overwrite an input; choose another -o folder"
        if key in taken:
            return f"output {name} is also the output of {taken[key]}; rename one of them"
    existing = [name for name in names if name.exists()]
    if skip_existing and existing:
        return len(existing) == len(names)  # in part: a run killed between an image and its std map
    if existing and not overwrite:
        return f"output {existing[0]} exists; refusing to overwrite it (use --overwrite, or --skip-existing)"
    return False


def read_manifest(manifest: Path) -> Iterator[Path]:
    """The paths of a manifest, one per line, read as it goes (blank lines are ignored; a relative
    path is relative to the current folder; file names are taken byte for byte, so a path cannot
    hold a newline).

    Raises:
        OSError: the manifest cannot be read.
    """
    with open(manifest, encoding="utf-8", errors="surrogateescape", newline="") as lines:
        for line in lines:
            text = line.rstrip("\r\n")
            if text:
                yield Path(text)


def plan_stream(paths: Callable[[], Iterable[Path]], outdir: Path, uncertainty: bool = False,
                overwrite: bool = False, skip_existing: bool = False) -> Iterator[PlanEvent]:
    """Plan inputs as they are read (a manifest of millions of files), with :func:`plan_outputs`'s
    rules, as events in input order.

    ``paths()`` is read twice: first for the inputs that lie in the output folder (only those can
    be hit by an output; usually none), then to plan. An input's identity is its resolved folder
    plus its name (folders are resolved once each, files not at all: a symbolic link to a file is
    a file of its own); an input given twice (same identity) gets a note and is enhanced once.
    Nothing is checked on disk but the output names (missing inputs fail when they are read).
    Kept in memory: every output name with the input that took it, and each input's first output
    name with its identity (a few hundred bytes per input).

    Args:
        paths: returns the inputs, in order, afresh at each call (e.g. ``lambda: read_manifest(f)``).
        outdir: the output folder.
        uncertainty, overwrite, skip_existing: as :func:`plan_outputs`.

    Yields:
        :data:`lowlight.bulk.plan.PlanEvent` s.
    """
    from lowlight.video.reader import is_video_file

    key = _stream_key(outdir)
    here = key(Path(outdir) / "x")[:-1]  # the output folder's key, with its separator
    inputs_here = {k for path in paths() if (k := key(path)).startswith(here) and os.sep not in k[len(here):]}
    first_input: dict[str, str] = {}  # first output name's key -> identity of the input that had it
    taken: dict[str, Path] = {}
    for path in paths():
        names = output_names(path, outdir, uncertainty)
        keys = [key(name) for name in names]
        identity = key(path)
        earlier = first_input.get(keys[0])  # the same input always has the same first name
        if earlier is None:
            first_input[keys[0]] = identity
        elif earlier == identity:
            yield Noted(f"{path}: given more than once; enhanced once")
            continue
        decision = _decide(names, keys, inputs_here.__contains__, taken, overwrite, skip_existing)
        if isinstance(decision, str):
            yield Refused(f"{path}: {decision}")
            continue
        for k in keys:
            taken[k] = path
        yield Skipped(path) if decision else Planned(path, tuple(names), "video" if is_video_file(path) else "image")


def _stream_key(outdir: Path) -> Callable[[Path], str]:
    """Key of a path for :func:`plan_stream`: its folder resolved (cached per folder) joined with
    its name, lower-cased on a case-insensitive output folder."""
    insensitive = _case_insensitive(outdir)
    folders: dict[str, str] = {}

    def key(path: Path) -> str:
        folder, name = os.path.split(os.path.abspath(path))
        resolved = folders.get(folder)
        if resolved is None:
            resolved = folders[folder] = str(Path(folder).resolve())
        text = os.path.normcase(os.path.join(resolved, name))
        return text.lower() if insensitive else text

    return key


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
