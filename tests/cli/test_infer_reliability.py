"""infer.py against hostile files and options (issue 13): no input lost, no traceback, one line each."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from lowlight.cli import infer
from lowlight.cli.infer import main
from lowlight.io.images import read_image
from tests.images import structured_image

COMMON = ["--k", "4"]


def dark(path: Path, size: tuple[int, int] = (12, 16), seed: int = 0, **save: object) -> Path:
    """A dark structured picture saved at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = ((structured_image(*size, seed=seed) / 255.0) ** 3 * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path, **save)
    return path


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width x height`` (8-bit RGB) and holds no pixel data: a bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def errors_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("infer.py: error:")]


def no_traceback(err: str) -> None:
    assert "Traceback" not in err


# 1 -------------------------------------------------------------------------------------------
def test_1_uncertainty_map_never_overwrites_an_input(tmp_path: Path, ckpt: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "t"
    dark(folder / "x.jpg")
    std_input = dark(folder / "x_std.png", seed=1)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code = main([str(folder), "-o", str(folder), "--uncertainty", "--checkpoint", str(ckpt), *COMMON])
    err = capsys.readouterr().err
    assert code == 1
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert f"output {std_input} would overwrite an input" in err
    no_traceback(err)


# 2 -------------------------------------------------------------------------------------------
def test_2_an_output_and_another_inputs_map_do_not_overwrite_each_other(
        tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = dark(tmp_path / "a" / "x.png")
    x_std = dark(tmp_path / "b" / "x_std.tif", seed=1)
    out = tmp_path / "o"
    code = main([str(x), str(x_std), "-o", str(out), "--uncertainty", "--checkpoint", str(ckpt), *COMMON])
    captured = capsys.readouterr()
    assert code == 1
    assert "enhanced 1 image(s)" in captured.out and "1 failed" in captured.out
    assert f"{x_std}: output {out / 'x_std.png'} is also the output of {x}" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "x_std.png"]
    # the map is x's uncertainty (grey: R = G = B), not x_std.tif's enhancement
    std_map = np.asarray(Image.open(out / "x_std.png"))
    assert (std_map[..., 0] == std_map[..., 1]).all() and (std_map[..., 1] == std_map[..., 2]).all()


# 3 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_pixels", [None, "100"])
def test_3_decompression_bomb_is_one_line_and_the_batch_goes_on(
        tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str], max_pixels: str | None) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    bomb = png_header(inputs / "a_bomb.png", 30000, 30000)
    good = dark(inputs / "b_good.png", (8, 10))
    limit = [] if max_pixels is None else ["--max-pixels", max_pixels]
    code = main([str(inputs), "-o", str(tmp_path / "o"), "--checkpoint", str(ckpt), *COMMON, *limit])
    err = capsys.readouterr().err
    no_traceback(err)
    assert code == 1
    assert errors_of(err) == [line for line in errors_of(err) if str(bomb) in line] and len(errors_of(err)) == 1
    assert "exceeds the limit" in err
    assert (tmp_path / "o" / f"{good.stem}.png").exists()


def test_3_pillows_guard_follows_max_pixels(tmp_path: Path) -> None:
    from lowlight.io.images import ImageReadError

    bomb = png_header(tmp_path / "bomb.png", 30000, 30000)  # 900 Mpx: beyond Pillow's own 179 Mpx error
    with pytest.raises(ImageReadError, match="image of 900000000 pixels exceeds the limit of 64000000 pixels"):
        read_image(bomb)
    header_only = png_header(tmp_path / "big.png", 9000, 9000)  # 81 Mpx: ours names the size
    with pytest.raises(ImageReadError, match="9000 x 9000 image exceeds the limit of 64000000 pixels"):
        read_image(header_only)
    # with a higher limit the header passes (Pillow's guard moved with it): the missing data is the error
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(bomb, max_pixels=10**9)
    # and Pillow's global setting is left as it was
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)


# 4 -------------------------------------------------------------------------------------------
def test_4_existing_outputs_are_refused_unless_overwrite(tmp_path: Path, ckpt: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = dark(tmp_path / "same" / "b.jpg")
    existing = tmp_path / "same" / "b.png"
    existing.write_bytes(b"keep me")
    args = [str(src), "-o", str(tmp_path / "same"), "--checkpoint", str(ckpt), *COMMON]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"output {existing} exists; refusing to overwrite it (use --overwrite, or --skip-existing)" in err
    assert existing.read_bytes() == b"keep me"
    assert main([*args, "--overwrite"]) == 0
    assert read_image(existing).shape == (3, 12, 16)


# 5 -------------------------------------------------------------------------------------------
def test_5_a_failed_write_is_attributed_to_its_own_image(tmp_path: Path, ckpt: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    a = dark(tmp_path / "in" / "a.png", seed=1)
    b = dark(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "o"
    (out / "b.png").mkdir(parents=True)  # b's output path is blocked by a folder
    code = main([str(a), str(b), "-o", str(out), "--batch-size", "2", "--overwrite",
                 "--checkpoint", str(ckpt), *COMMON])
    captured = capsys.readouterr()
    assert code == 1
    assert "enhanced 1 image(s)" in captured.out and "1 failed" in captured.out
    lines = errors_of(captured.err)
    assert len(lines) == 1 and str(b) in lines[0] and str(a) not in lines[0]
    assert read_image(out / "a.png").shape == (3, 12, 16)
    no_traceback(captured.err)


# 6 -------------------------------------------------------------------------------------------
def _usage_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("infer.py: error:"), err
    return err


def test_6_output_that_is_a_file_or_cannot_be_created(tmp_path: Path, ckpt: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = dark(tmp_path / "x.png")
    a_file = tmp_path / "file.txt"
    a_file.write_text("a file")
    assert main([str(src), "-o", str(a_file), "--checkpoint", str(ckpt)]) == 2
    assert "exists and is not a folder" in _usage_line(capsys)
    assert main([str(src), "-o", str(a_file / "sub"), "--checkpoint", str(ckpt)]) == 2
    assert "cannot create the folder" in _usage_line(capsys)
    assert a_file.read_text() == "a file"


def test_6_checkpoint_with_an_unknown_arch_config_key(tmp_path: Path, ckpt: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.safetensors"
    tensors = load_file(str(ckpt))
    save_file(tensors, str(bad), metadata={"arch": "CurveNet", "arch_config": json.dumps({"colour": 3}),
                                           "channels": "rgb"})
    assert main([str(dark(tmp_path / "x.png")), "-o", str(tmp_path / "o"), "--checkpoint", str(bad)]) == 2
    line = _usage_line(capsys)
    assert str(bad) in line and "colour" in line


def test_6_ctrl_c_is_exit_130_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(options: infer.InferOptions) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(infer, "run", interrupted)
    assert main(["x.png", "-o", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "infer.py: interrupted"


# 7 -------------------------------------------------------------------------------------------
def test_7_wrong_tensor_shapes_are_one_line_naming_the_file(tmp_path: Path, ckpt: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tensors = load_file(str(ckpt))
    name = next(k for k, v in tensors.items() if v.ndim == 4)
    tensors[name] = torch.zeros(1, 1, 1, 1)
    bad = tmp_path / "shapes.safetensors"
    save_file(tensors, str(bad), metadata={"arch": "CurveNet", "arch_config": "{}", "channels": "rgb"})
    assert main([str(dark(tmp_path / "x.png")), "-o", str(tmp_path / "o"), "--checkpoint", str(bad)]) == 2
    line = _usage_line(capsys)
    assert str(bad) in line and f"wrong shape: {name.removeprefix('net.')} (1, 1, 1, 1)" in line


def test_7_bad_gp_tensor_names_the_file(tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tensors = load_file(str(ckpt))
    tensors.update({"gp.log_lengthscale": torch.zeros(2, 1), "gp.log_signal_variance": torch.zeros(1),
                    "gp.log_noise_variance": torch.zeros(1)})
    bad = tmp_path / "gp.safetensors"
    save_file(tensors, str(bad), metadata={"arch": "CurveNet", "arch_config": "{}", "channels": "rgb"})
    assert main([str(dark(tmp_path / "x.png")), "-o", str(tmp_path / "o"), "--checkpoint", str(bad)]) == 2
    line = _usage_line(capsys)
    assert str(bad) in line and "inconsistent shapes" in line


# 8 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--k", "100000", "1..4096"), ("--k", "0", "1..4096"),
        ("--patch", "99", "1..15"), ("--patch", "0", "1..15"),
        ("--max-pixels", "0", "1..1000000000"), ("--max-pixels", "-5", "1..1000000000"),
        ("--batch-size", "0", "1..256"), ("--batch-size", "100000", "1..256"),
        ("--work-size", "-1", "0..16384"), ("--work-size", "99999", "0..16384"),
    ],
)
def test_8_impossible_values_are_refused_with_the_range(option: str, value: str, allowed: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["x.png", "-o", str(tmp_path / "o"), option, value]) == 2
    assert _usage_line(capsys) .startswith(f"infer.py: error: {option} {value}: must be in {allowed}")
    assert not (tmp_path / "o").exists()


def test_8_clamping_k_warns_once(tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = []
    for i in range(3):
        tiny.append(tmp_path / f"t{i}.png")
        Image.fromarray(np.random.default_rng(i).integers(0, 60, (2, 2, 3), dtype=np.uint8)).save(tiny[-1])
    assert main([*map(str, tiny), "-o", str(tmp_path / "o"), "--k", "30", "--checkpoint", str(ckpt)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "--k 30 is more than the 12 patch pairs" in warnings[0]


# 10 ------------------------------------------------------------------------------------------
def test_10_gifs_are_listed_globbed_and_animated_ones_say_so(tmp_path: Path, ckpt: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gifs"
    still = dark(folder / "still.gif")
    frames = [Image.fromarray(structured_image(12, 16, seed=s) // 4) for s in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    assert main([str(folder), "-o", str(tmp_path / "o1"), "--checkpoint", str(ckpt), *COMMON]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["anim.png", "still.png"]
    notes = [line for line in err.splitlines() if "note" in line]
    assert notes == [f"infer.py: note: {folder / 'anim.gif'}: 3 frames; only the first is enhanced"]
    assert main([str(folder / "*.gif"), "-o", str(tmp_path / "o2"), "--checkpoint", str(ckpt), *COMMON]) == 0
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["anim.png", "still.png"]
    assert read_image(tmp_path / "o2" / "still.png").shape == read_image(still).shape


# 11 ------------------------------------------------------------------------------------------
def test_11_a_file_given_twice_is_enhanced_once(tmp_path: Path, ckpt: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    src = dark(tmp_path / "in" / "x.png")
    code = main([str(src), str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--checkpoint", str(ckpt), *COMMON])
    captured = capsys.readouterr()
    assert code == 0
    assert "enhanced 1 image(s)" in captured.out and "0 failed" in captured.out
    assert "given more than once; enhanced once" in captured.err and not errors_of(captured.err)


def test_11_a_killed_runs_temp_file_is_removed_by_the_next_run(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    dead = out / ".x.png.999999999.abc123.lowlight-tmp"  # a pid that cannot be alive
    dead.write_bytes(b"half a png")
    src = dark(tmp_path / "in" / "x.png")
    assert main([str(src), "-o", str(out), "--checkpoint", str(ckpt), *COMMON]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.png"]


@pytest.mark.parametrize("grey", [0, 1, 40, 128])
def test_11_neutral_input_stays_neutral(tmp_path: Path, grey: int) -> None:
    src = tmp_path / "flat.png"
    Image.fromarray(np.full((16, 20, 3), grey, np.uint8)).save(src)
    assert main([str(src), "-o", str(tmp_path / "o"), "--k", "5"]) == 0  # the shipped CM checkpoint
    out = np.asarray(Image.open(tmp_path / "o" / "flat.png"))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
