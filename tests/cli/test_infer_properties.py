"""Property: whatever image file a user gives, infer.py writes a valid PNG of its size or says why in one line.

Random image modes (1-bit, 8-bit gray, gray + alpha, RGB, RGBA, palette, 16-bit gray, CMYK), sizes
(1 x 1 up to a few thousand pixels a side in the slow run), contents, file formats (PNG, JPEG, TIFF,
WEBP, BMP, GIF), multi-frame files, truncated files and options (``--uncertainty``,
``--batch-size``). For each: exit 0 with a PNG (8-bit RGB, the input's size) per output name, or
exit 1 with exactly one error line naming the file; never a traceback, never a changed input,
never a temporary file left behind.

The default run tries a few small cases with a fixed seed (reproducible in CI);
``uv run pytest -m slow tests/cli/test_infer_properties.py`` tries many, with large sizes too.
``CASES`` counts the cases tried (and how each ended) per test; the slow run prints it.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from lowlight.cli.infer import main

MODES = ("1", "L", "LA", "RGB", "RGBA", "P", "I;16", "CMYK")
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif"}
MULTI_FRAME = ("GIF", "TIFF", "WEBP")

#: outcome -> number of cases, per test function name
CASES: dict[str, Counter[str]] = {}


@dataclass(frozen=True)
class Case:
    """One generated input file and the options it is enhanced with."""

    mode: str
    fmt: str
    width: int
    height: int
    content: str  # "noise", "flat" or "gradient"
    frames: int
    truncate: bool
    uncertainty: bool
    batch_size: int
    seed: int


def cases(max_side: int) -> st.SearchStrategy[Case]:
    side = st.one_of(st.integers(1, 8), st.integers(1, max_side))  # tiny sizes often, up to max_side
    return st.builds(
        Case,
        mode=st.sampled_from(MODES),
        fmt=st.sampled_from(tuple(FORMATS)),
        width=side,
        height=side,
        content=st.sampled_from(("noise", "flat", "gradient")),
        frames=st.sampled_from((1, 1, 2)),
        truncate=st.sampled_from((False, False, False, True)),
        uncertainty=st.booleans(),
        batch_size=st.integers(1, 3),
        seed=st.integers(0, 2**16),
    )


def _picture(case: Case, frame: int) -> Image.Image:
    """A picture of ``case.mode``: noise, a flat tone or a gradient, at 16 bits for ``I;16``."""
    rng = np.random.default_rng(case.seed + frame)
    channels = {"1": 1, "L": 1, "P": 1, "I;16": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[case.mode]
    top = 65535 if case.mode == "I;16" else 255
    shape = (case.height, case.width, channels)
    if case.content == "noise":
        array = rng.integers(0, top + 1, shape)
    elif case.content == "flat":
        array = np.full(shape, rng.integers(0, top + 1))
    else:
        ramp = np.linspace(0, top, case.width)[None, :, None] * np.linspace(0.2, 1, case.height)[:, None, None]
        array = np.broadcast_to(ramp, shape).round()
    if case.mode == "I;16":
        return Image.fromarray(array[..., 0].astype(np.uint16))
    array = array.astype(np.uint8)
    if case.mode in ("1", "L", "P"):
        gray = Image.fromarray(array[..., 0], mode="L")
        return gray.convert("1") if case.mode == "1" else gray.convert("P") if case.mode == "P" else gray
    return Image.frombytes(case.mode, (case.width, case.height), array.tobytes())


def _write(case: Case, path: Path) -> bool:
    """Save the case's file; ``False`` when Pillow cannot write this mode in this format."""
    frames = [_picture(case, f) for f in range(case.frames)]
    extra = {"save_all": True, "append_images": frames[1:]} if case.frames > 1 else {}
    try:
        frames[0].save(path, format=case.fmt, **extra)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if case.truncate:
        data = path.read_bytes()
        path.write_bytes(data[: max(1, len(data) // 2)])
    return True


def check_case(case: Case, outcomes: Counter[str]) -> None:
    """Enhance the case's file through infer.py's ``main`` and check the property."""
    if case.frames > 1:
        assume(case.fmt in MULTI_FRAME)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        source = folder / "in" / f"picture{FORMATS[case.fmt]}"
        source.parent.mkdir()
        written = _write(case, source)
        assume(written)
        before = source.read_bytes()
        size = (case.width, case.height)
        out = folder / "out"
        args = [str(source), "-o", str(out), "--k", "8", "--batch-size", str(case.batch_size)]
        if case.uncertainty:
            args.append("--uncertainty")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(args)
        err = stderr.getvalue()
        assert "Traceback" not in err, err
        assert source.read_bytes() == before, "the input changed"
        assert not list(out.glob(".*")), "a temporary file was left"
        errors = [line for line in err.splitlines() if line.startswith("infer.py: error:")]
        if code == 0:
            assert not errors, err
            names = ["picture.png"] + (["picture_std.png"] if case.uncertainty else [])
            assert sorted(p.name for p in out.iterdir()) == sorted(names)
            for name in names:
                with Image.open(out / name) as result:
                    assert (result.format, result.mode, result.size) == ("PNG", "RGB", size)
                    result.load()
            outcomes["enhanced"] += 1
        else:
            assert code == 1, err
            assert len(errors) == 1 and str(source) in errors[0], err
            assert not out.exists() or not list(out.iterdir())
            outcomes["truncated file refused" if case.truncate else "refused"] += 1
    outcomes["tried"] += 1


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=cases(max_side=48))
def test_infer_writes_a_png_or_one_line(case: Case) -> None:
    check_case(case, CASES.setdefault("default", Counter()))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=cases(max_side=3000))
def test_infer_writes_a_png_or_one_line_many_and_large(case: Case) -> None:
    check_case(case, CASES.setdefault("slow", Counter()))


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> object:
    yield
    for name, counts in CASES.items():
        print(f"\ninfer property cases ({name}): {dict(counts)}")
