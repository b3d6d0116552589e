from __future__ import annotations

from pathlib import Path

import pytest

from lowlight.io.wandb_mode import apply_wandb_mode, resolve_wandb_mode


def test_offline_without_account(tmp_path: Path) -> None:
    assert resolve_wandb_mode({}, netrc_file=tmp_path / "missing") == "offline"


def test_env_mode_wins(tmp_path: Path) -> None:
    assert resolve_wandb_mode({"WANDB_MODE": "online"}, tmp_path / "x") == "online"
    assert resolve_wandb_mode({"WANDB_MODE": "disabled", "WANDB_API_KEY": "k"}) == "disabled"
    assert resolve_wandb_mode({"WANDB_MODE": "dryrun"}) == "offline"


def test_logged_in_means_online(tmp_path: Path) -> None:
    assert resolve_wandb_mode({"WANDB_API_KEY": "abc"}, tmp_path / "x") == "online"
    rc = tmp_path / "netrc"
    rc.write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    rc.chmod(0o600)
    assert resolve_wandb_mode({}, netrc_file=rc) == "online"


def test_bad_mode_is_named() -> None:
    with pytest.raises(ValueError, match="WANDB_MODE must be one of .* got 'sometimes'"):
        resolve_wandb_mode({"WANDB_MODE": "sometimes"})


def test_apply_exports_the_mode(tmp_path: Path) -> None:
    env = {"NETRC": str(tmp_path / "none")}
    assert apply_wandb_mode(env) == "offline"
    assert env["WANDB_MODE"] == "offline"
