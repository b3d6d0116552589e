"""The package as users get it: import contract, public API, shipped weights, the built wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SHIPPED = ("e2e_cm.safetensors", "e2e_cm_ssim.safetensors", "e2e_lm.safetensors",
           "rgb_cnn.safetensors", "y_cnn.safetensors")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_import_contracts_are_kept() -> None:
    from importlinter.cli import lint_imports

    cwd = Path.cwd()
    os.chdir(REPO_ROOT)  # lint-imports reads pyproject.toml from the working folder
    try:
        assert lint_imports(no_cache=True) == 0, "uv run lint-imports shows the broken contract"
    finally:
        os.chdir(cwd)


def test_public_api() -> None:
    import lowlight

    assert {"Enhancer", "EnhancerConfig", "GPOptions", "EnhanceResult"} <= set(lowlight.__all__)
    config = lowlight.EnhancerConfig(mode="cm", gp=lowlight.GPOptions(k=10))
    assert config.gp.k == 10


def test_shipped_weights_resolve_as_package_data() -> None:
    from lowlight.enhance import checkpoints

    folder = resources.files("lowlight.weights")
    names = {entry.name for entry in folder.iterdir()}
    assert set(SHIPPED) <= names
    assert checkpoints.CHECKPOINT_DIR == Path(str(folder))
    for path in (checkpoints.DEFAULT_CM, checkpoints.DEFAULT_LM, checkpoints.DEFAULT_RGB_CNN,
                 checkpoints.DEFAULT_Y_CNN, checkpoints.CM_SSIM):
        assert path.is_file(), path


def test_every_package_is_listed_for_the_wheel() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO_ROOT).parts)
               for p in (REPO_ROOT / "lowlight").rglob("__init__.py")}
    assert listed == on_disk | {"lowlight.weights"}


def test_console_scripts_point_at_callables() -> None:
    import importlib

    scripts = _pyproject()["project"]["scripts"]
    assert set(scripts) == {"lowlight-enhance", "lowlight-train", "lowlight-evaluate", "lowlight-bench"}
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build and install the wheel")
def test_wheel_runs_the_demo_from_a_fresh_environment(tmp_path: Path) -> None:
    """``uv build``, a fresh venv (torch from uv's cache), ``lowlight-enhance --demo`` elsewhere."""
    source = tmp_path / "source"  # a clean copy: setuptools' build/ folder may hold stale modules
    for folder in ("lowlight", "checkpoints"):
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(["uv", "build", "--wheel", "-q", "-o", str(dist)], cwd=source, check=True)
    (wheel,) = dist.glob("lowlight-*.whl")
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", "3.11", str(venv)], check=True, cwd=tmp_path)
    python = venv / "bin" / "python"
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), str(wheel)], check=True,
                   cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run([str(venv / "bin" / "lowlight-enhance"), "--demo"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (work / "outputs" / "demo" / "demo.png").stat().st_size > 0
    located = subprocess.run([str(python), "-c", "import lowlight.enhance.checkpoints as c; print(c.CHECKPOINT_DIR)"],
                             cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(located.stdout.strip()).is_relative_to(venv), located.stdout
