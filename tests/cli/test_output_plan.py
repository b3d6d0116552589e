"""plan_outputs: every planned name checked against the inputs, each other and existing files."""

from __future__ import annotations

from pathlib import Path

from lowlight.bulk.plan import Noted, Planned, Refused, Skipped
from lowlight.cli.output_plan import plan_outputs, plan_stream, read_manifest


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_plain_inputs_get_image_and_std_names(tmp_path: Path) -> None:
    a, b = _touch(tmp_path / "in" / "a.jpg"), _touch(tmp_path / "in" / "b.tif")
    out = tmp_path / "out"
    plan = plan_outputs([a, b], out, uncertainty=True)
    assert plan.targets == {a: [out / "a.png", out / "a_std.png"], b: [out / "b.png", out / "b_std.png"]}
    assert plan.errors == [] and plan.notes == []


def test_std_name_of_one_input_is_another_input(tmp_path: Path) -> None:
    x, x_std = _touch(tmp_path / "x.jpg"), _touch(tmp_path / "x_std.png")
    plan = plan_outputs([x, x_std], tmp_path, uncertainty=True)
    assert plan.targets == {}
    assert plan.errors[0] == f"{x}: output {tmp_path / 'x_std.png'} would overwrite an input; choose another -o folder"


def test_main_output_of_one_is_the_std_map_of_another(tmp_path: Path) -> None:
    x, x_std = _touch(tmp_path / "a" / "x.png"), _touch(tmp_path / "b" / "x_std.tif")
    out = tmp_path / "o"
    plan = plan_outputs([x, x_std], out, uncertainty=True)
    assert list(plan.targets) == [x]
    assert plan.errors == [f"{x_std}: output {out / 'x_std.png'} is also the output of {x}; rename one of them"]
    # the other order: the first input keeps its names
    plan = plan_outputs([x_std, x], out, uncertainty=True)
    assert list(plan.targets) == [x_std] and plan.errors[0].startswith(f"{x}: output {out / 'x_std.png'}")


def test_existing_files_need_overwrite(tmp_path: Path) -> None:
    src = _touch(tmp_path / "in" / "b.jpg")
    existing = _touch(tmp_path / "out" / "b_std.png")
    plan = plan_outputs([src], tmp_path / "out", uncertainty=True)
    assert plan.errors == [f"{src}: output {existing} exists; refusing to overwrite it (use --overwrite, or --skip-existing)"]
    assert plan_outputs([src], tmp_path / "out", uncertainty=True, overwrite=True).targets[src][1] == existing


def test_overwrite_never_allows_an_input(tmp_path: Path) -> None:
    src = _touch(tmp_path / "p.png")
    plan = plan_outputs([src], tmp_path, overwrite=True)
    assert plan.targets == {} and "would overwrite an input" in plan.errors[0]


def test_duplicates_are_kept_once_with_a_note(tmp_path: Path) -> None:
    src = _touch(tmp_path / "in" / "x.png")
    again = tmp_path / "in" / ".." / "in" / "x.png"
    plan = plan_outputs([src, again], tmp_path / "out")
    assert list(plan.targets) == [src] and plan.errors == []
    assert plan.notes == [f"{again}: given more than once; enhanced once"]


# ------------------------------------------------------------------ skip_existing, plan_stream


def test_skip_existing_skips_complete_inputs_and_redoes_partial_ones(tmp_path: Path) -> None:
    a, b, c = (_touch(tmp_path / "in" / f"{n}.jpg") for n in "abc")
    out = tmp_path / "out"
    for name in ("a.png", "a_std.png", "b.png"):  # a complete, b without its std map, c not started
        _touch(out / name)
    plan = plan_outputs([a, b, c], out, uncertainty=True, skip_existing=True)
    assert plan.skipped == [a] and list(plan.targets) == [b, c] and plan.errors == []
    # a skipped input keeps its names: another input that would write them is refused, as before
    other_a = _touch(tmp_path / "other" / "a.png")
    plan = plan_outputs([a, other_a], out, uncertainty=True, skip_existing=True)
    assert plan.skipped == [a] and "is also the output of" in plan.errors[0]


def _stream(files: list[Path], out: Path, **options: bool) -> list:
    return list(plan_stream(lambda: iter(files), out, **options))


def test_plan_stream_follows_plan_outputs(tmp_path: Path) -> None:
    """The same rules, event for event, on inputs where both apply them alike."""
    x, x_std = _touch(tmp_path / "a" / "x.png"), _touch(tmp_path / "b" / "x_std.tif")
    y, here = _touch(tmp_path / "a" / "y.png"), _touch(tmp_path / "o" / "z.png")
    _touch(tmp_path / "o" / "y.png")
    out = tmp_path / "o"
    again = tmp_path / "a" / ".." / "a" / "x.png"
    files = [x, x_std, again, y, here]
    for options in ({}, {"overwrite": True}, {"skip_existing": True}):
        expected = plan_outputs(files, out, uncertainty=True, **options)
        events = _stream(files, out, uncertainty=True, **options)
        assert [e.line for e in events if isinstance(e, Refused)] == expected.errors, options
        assert [e.line for e in events if isinstance(e, Noted)] == expected.notes
        assert {e.path: list(e.targets) for e in events if isinstance(e, Planned)} == expected.targets
        assert [e.path for e in events if isinstance(e, Skipped)] == expected.skipped


def test_read_manifest_lines(tmp_path: Path) -> None:
    manifest = tmp_path / "m.txt"
    manifest.write_bytes(b"a.png\r\n\n  spaced .png\nb\xff.png\n")
    assert [str(p) for p in read_manifest(manifest)] == ["a.png", "  spaced .png", "b\udcff.png"]
