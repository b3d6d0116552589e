"""infer.py end to end on generated images, with an untrained CNN saved to a temporary file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.archs import GPECNN
from lowlight.enhance.checkpoints import save_reference_cnn
from lowlight.cli.infer import main
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.io.images import read_image
from tests.images import structured_image, write_bad_images, write_mode_images


@pytest.fixture()
def y_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "y.safetensors"
    save_reference_cnn(GPECNN(), path, "y")
    return path


def _write_dark(folder: Path, name: str, size: tuple[int, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    array = (structured_image(*size) / 255.0) ** 3
    path = folder / name
    Image.fromarray((array * 255).round().astype(np.uint8)).save(path)
    return path


def test_enhances_files_folders_and_globs(tmp_path: Path, rgb_checkpoint: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    a = _write_dark(tmp_path / "in", "a.png", (21, 30))
    _write_dark(tmp_path / "in" / "sub", "b.jpg", (16, 16))
    _write_dark(tmp_path / "glob", "c.png", (9, 13))
    out = tmp_path / "out"
    code = main([str(a), str(tmp_path / "in" / "sub"), str(tmp_path / "glob" / "*.png"),
                 "-o", str(out), "--checkpoint", str(rgb_checkpoint), "--k", "5", "--uncertainty"])
    assert code == 0
    for stem, size in (("a", (21, 30)), ("b", (16, 16)), ("c", (9, 13))):
        enhanced = read_image(out / f"{stem}.png")
        assert enhanced.shape == (3, *size)
        assert read_image(out / f"{stem}_std.png").shape == (3, *size)
    assert "enhanced 3 image(s)" in capsys.readouterr().out
    assert not list(out.glob(".*.lowlight-tmp"))


def test_bad_inputs_fail_alone_and_set_the_exit_status(tmp_path: Path, rgb_checkpoint: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    bad = write_bad_images(inputs)
    modes = write_mode_images(inputs)
    good = _write_dark(inputs, "good.png", (12, 12))
    out = tmp_path / "out"
    code = main([str(inputs), str(tmp_path / "missing.png"), "-o", str(out),
                 "--checkpoint", str(rgb_checkpoint), "--k", "4", "--batch-size", "3"])
    err = capsys.readouterr().err
    assert code == 1
    for path in bad:
        assert f"{path.name}" in err and not (out / f"{path.stem}.png").exists()
    assert "missing.png: no such file or folder" in err
    assert "Traceback" not in err
    for path, expected in modes.values():  # grayscale, RGBA, CMYK, 16-bit are converted
        assert read_image(out / f"{path.stem}.png").shape == (3, *expected.shape[:2])
    assert (out / f"{good.stem}.png").exists()
    assert not list(out.glob(".*.lowlight-tmp")) and not list(out.glob(".*"))


def test_refuses_to_overwrite_inputs(tmp_path: Path, rgb_checkpoint: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_dark(tmp_path, "photo.png", (8, 8))
    before = src.read_bytes()
    code = main([str(src), "-o", str(tmp_path), "--checkpoint", str(rgb_checkpoint)])
    assert code == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_lm_mode_with_a_luma_checkpoint(tmp_path: Path, y_checkpoint: Path) -> None:
    src = _write_dark(tmp_path / "in", "x.png", (20, 18))
    code = main([str(src), "-o", str(tmp_path / "out"), "--mode", "lm", "--checkpoint", str(y_checkpoint), "--k", "6"])
    assert code == 0
    assert read_image(tmp_path / "out" / "x.png").shape == (3, 20, 18)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give at least one INPUT"),
        (["x.png"], "-o/--output OUTDIR is required"),
        (["x.png", "-o", "o", "--k", "0"], r"--k 0: must be in 1\.\.4096"),
        (["x.png", "-o", "o", "--checkpoint", "nope.safetensors"], "no such file: nope.safetensors"),
        (["x.png", "-o", "o", "--device", "cuda:0"], "CUDA is not available|could not"),
        (["x.png", "-o", "o", "--device", "tpu"], "unknown device|expected cpu or cuda"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(args: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    if "cuda:0" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infer.py: error:") and len(err.splitlines()) == 1
    assert re.search(message, err)


def test_wrong_checkpoint_for_mode(tmp_path: Path, y_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_dark(tmp_path, "x.png", (8, 8))
    assert main([str(src), "-o", str(tmp_path / "o"), "--checkpoint", str(y_checkpoint)]) == 2
    assert "does not fit mode 'cm'" in capsys.readouterr().err


def test_demo_writes_a_side_by_side_and_prints_psnr(tmp_path: Path, rgb_checkpoint: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "-o", str(tmp_path), "--checkpoint", str(rgb_checkpoint), "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert "astronaut" in out and "enhanced PSNR" in out
    sheet = Image.open(tmp_path / "demo.png")
    assert sheet.width == 3 * 256 and sheet.height >= 4 * 256


def test_patch_size_of_an_end_to_end_checkpoint_is_fixed(tmp_path: Path, rgb_checkpoint: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_dark(tmp_path / "in", "x.png", (16, 16))
    assert main([str(src), "-o", str(tmp_path / "out"), "--patch", "5", "--k", "4"]) == 2  # the shipped e2e file
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--patch 5: the checkpoint was trained end to end with 3 x 3 patches" in err
    assert not (tmp_path / "out").exists()
    # a two-stage checkpoint takes any patch size
    assert main([str(src), "-o", str(tmp_path / "out"), "--patch", "5", "--k", "4", "--checkpoint", str(rgb_checkpoint)]) == 0


def test_gp_resolution_reaches_the_enhancer(tmp_path: Path, rgb_checkpoint: Path) -> None:
    src = _write_dark(tmp_path / "in", "x.png", (48, 64))
    common = [str(src), "--k", "6", "--checkpoint", str(rgb_checkpoint), "--work-size", "32"]
    assert main([*common, "-o", str(tmp_path / "working"), "--gp-resolution", "working"]) == 0
    assert main([*common, "-o", str(tmp_path / "full"), "--gp-resolution", "full"]) == 0
    written = read_image(tmp_path / "working" / "x.png")
    config = EnhancerConfig(work_size=32, gp_resolution="working", gp=GPOptions(k=6))
    with torch.inference_mode():
        expected = Enhancer.from_checkpoint(config, rgb_checkpoint)(read_image(src)[None]).image[0]
    assert (written - expected).abs().max() <= 1 / 255 + 1e-6  # 8-bit rounding only
    assert (read_image(tmp_path / "full" / "x.png") - written).abs().max() > 1 / 255


def test_noise_gate_returns_the_cnn_output_on_a_clean_photo(tmp_path: Path, rgb_checkpoint: Path) -> None:
    src = _write_dark(tmp_path / "in", "x.png", (32, 32))
    common = [str(src), "--k", "6", "--checkpoint", str(rgb_checkpoint)]
    assert main([*common, "-o", str(tmp_path / "gated"), "--noise-gate"]) == 0
    assert main([*common, "-o", str(tmp_path / "plain")]) == 0
    gated = read_image(tmp_path / "gated" / "x.png")
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(use_gp=False), rgb_checkpoint)
    with torch.inference_mode():
        cnn = enhancer(read_image(src)[None]).image[0]
    assert (gated - cnn).abs().max() <= 1 / 255 + 1e-6  # 8-bit rounding only
    assert (read_image(tmp_path / "plain" / "x.png") - gated).abs().max() > 1 / 255  # the GP did run there
