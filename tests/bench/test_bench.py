"""The benchmark: pure helpers against references, and a ``--quick`` smoke run of every section
whose printed tables are read back (rows, columns, finite positive numbers)."""

from __future__ import annotations

import importlib.util
import math
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lowlight.bench import __main__ as bench_main
from lowlight.bench import gpu as gpu_bench
from lowlight.bench import memory
from lowlight.bench.gp import API_CHUNKS, api_chunk_candidates, chunk_label
from lowlight.bench.sweep import (Measurement, Sweep, SweepOptions, SweepPath, format_markdown,
                                  slope_ms_per_mp, sweep_paths)
from lowlight.bench.table import markdown_table
from lowlight.enhance.enhancer import EnhancerConfig
from lowlight.bench.timing import fastest, fit_line, interleaved_times

# ---------------------------------------------------------------- helpers


def _sections(text: str) -> dict[str, list[list[list[str]]]]:
    """Printed output -> {"## heading": [table, ...]}, a table being its rows of cells (header
    first, the rule row dropped)."""
    sections: dict[str, list[list[list[str]]]] = {}
    current: list[list[list[str]]] = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line, [])
            in_table = False
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not in_table:
                current.append([])
                in_table = True
            if not all(set(cell) <= set("-:") for cell in cells):
                current[-1].append(cells)
        else:
            in_table = False
    return sections


def _number(cell: str) -> float:
    """``"12.5 (11.0)"``, ``"3.20x"`` -> the first number."""
    return float(cell.split()[0].rstrip("x"))


def _positive(cell: str) -> bool:
    value = _number(cell)
    return math.isfinite(value) and value > 0


def _run(capsys, *argv: str) -> dict[str, list[list[list[str]]]]:
    bench_main.main(["--quick", "--threads", "1", *argv])
    return _sections(capsys.readouterr().out)


def _column(table: list[list[str]], name: str) -> list[str]:
    index = table[0].index(name)
    return [row[index] for row in table[1:]]


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize("n", [2, 3, 7])
def test_fit_line_matches_polyfit(n: int) -> None:
    rng = np.random.default_rng(n)
    x, y = rng.uniform(0, 25, n), rng.uniform(0, 3, n)
    slope, intercept = fit_line(list(x), list(y))
    np.testing.assert_allclose([slope, intercept], np.polyfit(x, y, 1), rtol=1e-9, atol=1e-12)


def test_fit_line_needs_two_distinct_x() -> None:
    assert all(math.isnan(v) for v in fit_line([1.0], [2.0]))
    assert all(math.isnan(v) for v in fit_line([1.0, 1.0], [2.0, 3.0]))
    with pytest.raises(ValueError, match="length"):
        fit_line([1.0, 2.0], [1.0])


def test_fastest_is_by_median_first_on_ties() -> None:
    # 512 has the smallest minimum, 1024 the smallest median
    assert fastest({512: [0.1, 5.0, 6.0], 1024: [1.0, 1.1, 1.2], 2048: [2.0, 2.0, 2.0]}) == 1024
    assert fastest({"a": [1.0], "b": [1.0]}) == "a"
    with pytest.raises(ValueError):
        fastest({})


def test_interleaved_times_warms_up_every_side_and_alternates() -> None:
    calls: list[tuple[str, int, str]] = []

    def side(name: str):
        def prepare(round_: int):
            calls.append((name, round_, "prepare"))
            return lambda: calls.append((name, round_, "run")) or (name, round_)
        return prepare

    timings = interleaved_times({"a": side("a"), "b": side("b")}, repeats=2)
    runs = [(name, round_) for name, round_, what in calls if what == "run"]
    assert runs == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert all(calls[i][2] == "prepare" and calls[i + 1][2] == "run" for i in range(0, len(calls), 2))
    assert timings.results == {"a": [("a", 1), ("a", 2)], "b": [("b", 1), ("b", 2)]}
    assert [len(v) for v in timings.seconds.values()] == [2, 2]
    assert timings.last("b") == ("b", 2)
    with pytest.raises(ValueError):
        interleaved_times({"a": side("a")}, repeats=0)


def test_api_chunk_candidates() -> None:
    # 196608 queries at once would need 155 GB: only the chunks
    assert api_chunk_candidates(196608) == sorted(API_CHUNKS)
    assert api_chunk_candidates(1024, (2048, 256, 512, 1024)) == [256, 512, 1024]
    assert api_chunk_candidates(20000, (256,), max_bytes=4 * 20000**2 - 1) == [256]
    assert chunk_label(1024, 1024) == "all" and chunk_label(512, 1024) == "512"


def test_markdown_table_checks_its_rows() -> None:
    assert markdown_table(["a", "b"], [["x", "1"]], text_columns=1).splitlines() == [
        "| a | b |", "| --- | ---: |", "| x | 1 |"]
    with pytest.raises(ValueError, match="cells"):
        markdown_table(["a", "b"], [["x"]])


def test_slope_uses_only_sizes_above_the_working_size() -> None:
    path = SweepPath("working", {"work_size": 100})
    sizes = [(64, 64), (128, 96), (256, 256), (512, 384)]
    seconds = [5.0, 0.2, 0.3, 0.7]  # the first size (below the working size) would bend the line
    rows = [{"height": h, "width": w, "megapixels": h * w / 1e6, "paths": {"working": Measurement(s, 1.0, 3)}}
            for (h, w), s in zip(sizes, seconds)]
    rows.append({"height": 900, "width": 900, "megapixels": 0.81,
                 "paths": {"working": Measurement(skipped="skipped")}})
    slope, intercept, used = slope_ms_per_mp(rows, path)
    x = [r["megapixels"] for r in rows[1:4]]
    np.testing.assert_allclose([slope, intercept], 1e3 * np.polyfit(x, seconds[1:], 1))
    assert used == ["96 x 128", "256 x 256", "384 x 512"]
    full = SweepPath("working", {"work_size": 100}, full_resolution=True)
    assert slope_ms_per_mp(rows, full)[2] == ["64 x 64", *used]


def test_sweep_table_with_two_paths() -> None:
    """The layout with one working path: a ratio column, skipped cells, one slope each."""
    full = SweepPath("full", {"work_size": 0}, full_resolution=True)
    working = SweepPath("work", {"work_size": 300}, short="working")
    cells = {(256, 256): (Measurement(0.05, 1.1, 5), Measurement(0.05, 1.1, 5)),
             (600, 800): (Measurement(1.2, 1.5, 5), Measurement(0.3, 1.2, 5)),
             (1200, 1600): (Measurement(4.8, 2.5, 5), Measurement(0.6, 1.3, 5)),
             (3000, 4000): (Measurement(skipped="skipped (over --max-full-pixels)"), Measurement(2.4, 1.9, 5))}
    rows = [{"height": h, "width": w, "megapixels": h * w / 1e6, "paths": {"full": f, "work": k}}
            for (h, w), (f, k) in cells.items()]
    text = format_markdown(Sweep(rows, [full, working], [], SweepOptions()))
    (table,), = _sections("## x\n" + text).values()
    assert table[0] == ["size", "MP", "full: s", "ms / MP", "peak GB", "work: s", "ms / MP", "peak GB",
                        "full / working"]
    assert table[2] == ["800 x 600", "0.48", "1.200", "2500", "1.50", "0.300", "625", "1.20", "4.0x"]
    assert table[4][2:5] == ["skipped (over --max-full-pixels)", "-", "-"] and table[4][-1] == "-"
    x, y = [0.48, 1.92, 12.0], [0.3, 0.6, 2.4]  # the working path's sizes above 300 px
    expected = 1e3 * np.polyfit(x, y, 1)[0]
    assert f"- slope, work: {expected:.0f} ms per MP" in text
    assert "least squares over 800 x 600, 1600 x 1200, 4000 x 3000" in text
    assert "- slope, full: " in text and "256 x 256, 800 x 600, 1600 x 1200)" in text


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_peak_memory_of_a_child_is_its_own() -> None:
    """A bare interpreter spawned by this (torch-sized) process reports its own few MB, not the
    parent's peak, which ``ru_maxrss`` would carry over ``execve``."""
    parent_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    assert parent_gb > 0.15  # torch is imported here
    load = (f"import importlib.util as u; s = u.spec_from_file_location('m', {str(Path(memory.__file__))!r}); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); print(m.peak_rss_gb())")
    child_gb = float(subprocess.run([sys.executable, "-c", load], capture_output=True, text=True,
                                    check=True).stdout)
    assert 0.001 < child_gb < 0.1
    assert 0.1 < memory.peak_rss_gb() <= parent_gb * 1.01 + 0.01


def test_sweep_paths_follow_the_config() -> None:
    paths, notes = sweep_paths()
    assert paths[0].full_resolution and paths[0].work_size() == 0 and not notes
    assert [path.overrides for path in paths[1:]] == [{"gp_resolution": "full"}, {"gp_resolution": "working"}]
    default = EnhancerConfig().gp_resolution
    assert [path.name.endswith("(default)") for path in paths[1:]] == [default == "full", default == "working"]
    assert all(path.work_size() == EnhancerConfig().work_size for path in paths[1:])


def test_unknown_section_is_an_error() -> None:
    with pytest.raises(SystemExit):
        bench_main.main(["--sections", "kmeans,nope"])


# ---------------------------------------------------------------- --quick per section


def test_quick_kmeans(capsys) -> None:
    pytest.importorskip("sklearn")
    sections = _run(capsys, "--sections", "kmeans")
    (full, pipe), = sections.values()
    assert len(full) == 2 and len(pipe) == 2  # header + one (d, k)
    for name in ("ours (s)", "sklearn (s)", "speedup", "inertia ours/sk"):
        assert all(_positive(cell) for cell in _column(full, name)), name
    for name in ("ours (ms)", "sklearn (ms)", "speedup", "inertia ours/sk", "inertia vs sk on all n"):
        assert all(_positive(cell) for cell in _column(pipe, name)), name
    assert _column(pipe, "points") == ["1024"] and _column(pipe, "max iters") == ["10"]
    assert set(_column(full, "sklearn algorithm")) <= {"lloyd", "elkan"}


def test_quick_kmeans_without_sklearn(capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    bench_main.main(["--quick", "--sections", "kmeans"])
    assert "skipped: scikit-learn is not installed" in capsys.readouterr().out


def test_quick_gp(capsys) -> None:
    sections = _run(capsys, "--sections", "gp")
    (table, selection), = sections.values()
    assert len(table) == 2 and table[0][0] == "k"
    for name in ("ours (ms)", "gpytorch (ms)", "speedup", "gpytorch API (ms)", "speedup vs API"):
        assert all(_positive(cell) for cell in _column(table, name)), name
    for name in ("max abs diff", "ours err vs f64", "gpytorch err vs f64"):
        assert all(0 <= _number(cell) < 1e-4 for cell in _column(table, name)), name
    assert selection[0] == ["k", "chunk 256", "chunk 512", "chunk all", "fastest"]
    assert all(_positive(cell) for cell in selection[1][1:4])
    assert _column(table, "API chunk") == _column(selection, "fastest")


def test_quick_pipeline(capsys) -> None:
    sections = _run(capsys, "--sections", "pipeline")
    (table,), = sections.values()
    assert [row[:2] for row in table[1:]] == [["LM", "10"], ["CM", "10"]]
    assert all(_positive(cell) for cell in _column(table, "ms / 256x256 image (median)"))


def test_quick_sweep(capsys) -> None:
    """32 x 32 (1024 px) runs on every path; 64 x 48 (3072 px) is over --max-full-pixels for the
    full-resolution path only. One fresh process per measured cell."""
    bench_main.main(["--quick", "--threads", "1", "--sections", "sweep", "--max-full-pixels", "2000"])
    out = capsys.readouterr().out
    (heading, (table,)), = _sections(out).items()
    assert heading.startswith("## Size sweep")
    paths, notes = sweep_paths()
    assert table[0][:2] == ["size", "MP"] and len(table[0]) == 2 + 3 * len(paths) + len(paths) - 1
    assert table[0][-2:] == ["full / gp_resolution=full", "full / gp_resolution=working"]
    assert [row[0] for row in table[1:]] == ["32 x 32", "64 x 48"]
    small, large = table[1], table[2]
    assert all(_positive(cell) for cell in small[2:])
    assert 0.05 < _number(small[4]) < 100  # peak GB of a whole torch process
    assert large[2:5] == ["skipped (over --max-full-pixels)", "-", "-"]
    assert all(_positive(cell) for cell in large[5:5 + 3 * (len(paths) - 1)])
    for path in paths:  # at most one measured size above each path's working size: no line
        assert f"- slope, {path.name}: n/a" in out
    assert all(f"- {note}" in out for note in notes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only message")
def test_quick_gpu_says_it_needs_cuda(capsys) -> None:
    bench_main.main(["--quick", "--sections", "gpu"])
    out = capsys.readouterr().out
    assert "## GPU throughput (CM, k = 30): batched frames per second" in out
    assert "skipped: needs a CUDA GPU" in out


def test_gpu_table_and_errors() -> None:
    rows = [{"gp_resolution": "working", "size": "3840 x 2160", "batch": 8, "seconds": 0.25, "fps": 32.0,
             "peak_gib": 20.5},
            {"gp_resolution": "full", "size": "3840 x 2160", "batch": 8, "skipped": "out of GPU memory"}]
    (table,), = _sections("## x\n" + gpu_bench.format_markdown(rows)).values()
    assert table[0] == ["gp_resolution", "size", "batch", "s per batch", "frames / s", "peak GiB"]
    assert table[1] == ["working", "3840 x 2160", "8", "0.250", "32.0", "20.50"]
    assert table[2] == ["full", "3840 x 2160", "8", "out of GPU memory", "-", "-"]
    with pytest.raises(ValueError, match="calls must be >= 1, got 0"):
        gpu_bench.gpu_throughput(gpu_bench.GPUBenchOptions(calls=0))
