"""Weights & Biases without an account: offline unless the user is logged in or says otherwise."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

WandbMode = Literal["online", "offline", "disabled"]
_MODES = ("online", "offline", "disabled", "dryrun", "run")
_WANDB_HOST = "api.wandb.ai"


def resolve_wandb_mode(
    environ: Mapping[str, str] = os.environ, netrc_file: Path | None = None
) -> WandbMode:
    """The W&B mode to use.

    ``WANDB_MODE`` wins when set; otherwise ``"online"`` when an API key is configured
    (``WANDB_API_KEY``, or an ``api.wandb.ai`` entry in ``~/.netrc`` as ``wandb login`` writes),
    else ``"offline"``: runs land in ``wandb/`` and ``wandb sync`` uploads them later.

    Raises:
        ValueError: ``WANDB_MODE`` holds an unknown value.
    """
    mode = environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        if mode not in _MODES:
            raise ValueError(f"WANDB_MODE must be one of {_MODES}, got {mode!r}")
        return {"dryrun": "offline", "run": "online"}.get(mode, mode)  # type: ignore[return-value]
    if environ.get("WANDB_API_KEY"):
        return "online"
    path = netrc_file or Path(environ.get("NETRC", Path.home() / ".netrc"))
    try:
        if netrc.netrc(str(path)).authenticators(_WANDB_HOST):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError, PermissionError):
        pass
    return "offline"


def apply_wandb_mode(environ: dict[str, str] | os._Environ = os.environ) -> WandbMode:
    """Resolve the mode and export it as ``WANDB_MODE`` so every ``wandb.init`` follows it."""
    mode = resolve_wandb_mode(environ)
    environ["WANDB_MODE"] = mode
    return mode
