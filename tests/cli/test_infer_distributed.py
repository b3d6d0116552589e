"""infer.py on two CPU processes (Lightning's Trainer.predict, gloo), --manifest and --skip-existing.

Checked: every input is enhanced exactly once across the ranks (each output written once, by
one of two processes, both working); the outputs are byte for byte those of one process with the
ranks' thread count (the enhancer is deterministic for a given number of torch threads; Lightning
gives each of N CPU processes cores / N threads); a bad file gets one error line and the others go
on; the summary of all ranks is printed once; a job killed half-way resumes with --skip-existing
(complete outputs kept, a half-done input redone, a killed writer's temporary file removed).

The default run forks the ranks from the test process (``strategy="ddp_fork"``, the Python API's
option); the slow tests run the documented commands in fresh processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from lowlight.bulk import items as bulk_items
from lowlight.cli.infer import InferOptions, main, run
from tests.distributed import REPO, run_like_torchrun
from tests.images import write_images

#: torch threads of each of two ranks on this machine (Lightning: usable cores // processes)
RANK_THREADS = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) // 2)


@pytest.fixture()
def inputs(tmp_path: Path) -> list[Path]:
    """Nine photos of two sizes (batched by size) and one file that is not an image."""
    folder = tmp_path / "in"
    photos = write_images(folder, 6, size=(20, 28)) + write_images(folder, 3, size=(16, 16), prefix="small", seed=1)
    (folder / "broken.png").write_bytes(b"not an image")
    return sorted(photos) + [folder / "broken.png"]


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """Lightning's fork launcher and the references below change torch's thread count (and
    OMP_NUM_THREADS) in this process: restored afterwards."""
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    yield
    torch.set_num_threads(threads)
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp


def _reference(inputs: list[Path], out: Path, ckpt: Path, extra: list[str] = ()) -> None:  # type: ignore[assignment]
    """One process with each rank's thread count: the outputs the ranks must reproduce."""
    torch.set_num_threads(RANK_THREADS)
    assert main([str(inputs[0].parent), "-o", str(out), "--checkpoint", str(ckpt), "--k", "5", *extra]) == 1


def _same_files(expected: Path, actual: Path) -> None:
    names = sorted(p.name for p in expected.iterdir())
    assert sorted(p.name for p in actual.iterdir()) == names  # nothing else (no temporary or plan file)
    for name in names:
        assert (actual / name).read_bytes() == (expected / name).read_bytes(), name


def test_two_ranks_resume_a_killed_job_like_one_process(
    tmp_path: Path, inputs: list[Path], ckpt: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    reference = tmp_path / "reference"
    _reference(inputs, reference, ckpt, ["--uncertainty"])
    capfd.readouterr()

    # what a job killed half-way leaves: three inputs done, one with its image but not its std map
    # (killed between the two writes), and a temporary file of a writer that no longer runs
    out = tmp_path / "out"
    out.mkdir()
    done = ["img_000", "img_003", "small_001"]
    for stem in done:
        for name in (f"{stem}.png", f"{stem}_std.png"):
            shutil.copy(reference / name, out / name)
    (out / "img_004.png").write_bytes(b"an old, different file")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".img_005.png.{int(dead.stdout)}.abcd1234.lowlight-tmp"
    stale.write_bytes(b"half")

    # every write of the ranks is logged with the writer's process id
    log = tmp_path / "writes.log"
    original = bulk_items.write_png

    def logged(image: torch.Tensor, path: Path) -> None:
        original(image, path)
        with open(log, "a") as record:
            record.write(f"{os.getpid()} {Path(path).name}\n")

    monkeypatch.setattr(bulk_items, "write_png", logged)
    manifest = tmp_path / "inputs.txt"
    manifest.write_text("".join(f"{p}\n" for p in inputs))
    options = InferOptions(inputs=[], output=out, manifest=manifest, checkpoint=ckpt, k=5, uncertainty=True,
                           batch_size=2, skip_existing=True, devices=2, strategy="ddp_fork")
    assert run(options) == 1  # the broken file

    captured = capfd.readouterr()
    _same_files(reference, out)  # img_004 redone over the half-done set; the stale file gone
    writes = [line.split() for line in log.read_text().splitlines()]
    names = [name for _, name in writes]
    assert sorted(names) == sorted(p.name for p in reference.iterdir() if not p.name.startswith(tuple(done)))
    assert len({pid for pid, _ in writes}) == 2  # both ranks wrote, each file once
    errors = [line for line in captured.err.splitlines() if "infer.py: error:" in line]
    assert len(errors) == 1 and "broken.png" in errors[0]
    summaries = [line for line in captured.out.splitlines() if line.startswith("enhanced ")]
    assert len(summaries) == 1
    assert re.match(r"enhanced 6 image\(s\) in [\d.]+ s \([\d.]+ images/s\), 1 failed, 3 skipped \(outputs exist\)",
                    summaries[0])


def test_manifest_one_process_notes_duplicates_and_resumes(tmp_path: Path, inputs: list[Path], ckpt: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(inputs[0].parent)
    manifest = tmp_path / "list.txt"
    lines = [str(inputs[0]), "", inputs[1].name, f"../in/{inputs[0].name}", str(inputs[-1]), str(tmp_path / "gone.png")]
    manifest.write_text("\n".join(lines) + "\r\n")
    out = tmp_path / "out"
    args = ["--manifest", str(manifest), "-o", str(out), "--checkpoint", str(ckpt), "--k", "5"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert f"../in/{inputs[0].name}: given more than once; enhanced once" in captured.err
    assert "broken.png" in captured.err and "gone.png" in captured.err
    assert "enhanced 2 image(s)" in captured.out and "2 failed" in captured.out
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.png" for p in inputs[:2])
    assert main([*args, "--skip-existing"]) == 1
    assert "enhanced 0 image(s)" in capsys.readouterr().out
    assert main(args) == 1  # without --skip-existing the existing outputs are refused
    assert "exists; refusing to overwrite it (use --overwrite, or --skip-existing)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x.png", "-o", "o", "--accelerator", "tpu"], "--accelerator tpu: expected cpu or gpu"),
        (["x.png", "-o", "o", "--devices", "0"], r"--devices 0: must be in 1\.\.1024"),
        (["x.png", "-o", "o", "--num-nodes", "0"], r"--num-nodes 0: must be in 1\.\."),
        (["x.png", "-o", "o", "--overwrite", "--skip-existing"], "contradict each other"),
        (["x.png", "-o", "o", "--manifest", "list.txt"], "INPUT... or --manifest FILE, not both"),
        (["-o", "o", "--manifest", "missing-list.txt"], "--manifest missing-list.txt: cannot read it"),
        (["x.png", "-o", "o", "--device", "cpu", "--accelerator", "cpu"], "give only --accelerator"),
        (["--demo", "--devices", "2"], "--demo runs in one process"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infer.py: error:") and len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_gpu_without_cuda_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["x.png", "-o", "o", "--accelerator", "gpu", "--devices", "2"]) == 2
    assert capsys.readouterr().err.strip() == "infer.py: error: --accelerator gpu: CUDA is not available on this machine"


def test_one_of_several_launched_processes_needs_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["x.png", "-o", str(tmp_path / "o")]) == 2
    assert "one of 2 processes" in capsys.readouterr().err


def test_device_is_a_deprecated_alias(tmp_path: Path, inputs: list[Path], ckpt: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(inputs[0]), "-o", str(tmp_path / "o"), "--checkpoint", str(ckpt), "--k", "5",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "infer.py: warning: --device is deprecated and will be removed; use --accelerator cpu" in err
    assert (tmp_path / "o" / f"{inputs[0].stem}.png").is_file()


def _command(inputs: list[Path], out: Path, ckpt: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "infer.py"), str(inputs[0].parent), "-o", str(out),
            "--checkpoint", str(ckpt), "--k", "5", *extra]


@pytest.mark.slow
def test_documented_command_with_lightnings_launcher(tmp_path: Path, inputs: list[Path], ckpt: Path) -> None:
    """``infer.py INPUT -o OUT --devices 2``: Lightning starts rank 1 by running the command again."""
    reference = tmp_path / "reference"
    _reference(inputs, reference, ckpt)
    out = tmp_path / "out"
    result = subprocess.run(_command(inputs, out, ckpt, "--devices", "2", "--batch-size", "3"),
                            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    _same_files(reference, out)
    assert result.stdout.count("enhanced 9 image(s)") == 1 and "1 failed" in result.stdout
    assert result.stderr.count("infer.py: error:") == 1 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_torchrun_style_ranks_resume(tmp_path: Path, inputs: list[Path], ckpt: Path) -> None:
    """Both ranks started at once with torchrun's environment; a second run with --skip-existing
    after two outputs were removed redoes exactly those two."""
    reference = tmp_path / "reference"
    _reference(inputs, reference, ckpt)
    out = tmp_path / "out"
    results = run_like_torchrun(_command(inputs, out, ckpt, "--devices", "2"), 2, cwd=tmp_path, timeout=900)
    assert [r.returncode for r in results] == [1, 1], results[0].stderr[-3000:]
    _same_files(reference, out)
    assert sum(r.stdout.count("enhanced 9 image(s)") for r in results) == 1
    for name in ("img_002.png", "small_000.png"):
        (out / name).unlink()
    results = run_like_torchrun(_command(inputs, out, ckpt, "--devices", "2", "--skip-existing"), 2,
                                cwd=tmp_path, timeout=900)
    _same_files(reference, out)
    assert sum(r.stdout.count("enhanced 2 image(s)") for r in results) == 1
    assert "7 skipped" in results[0].stdout
