"""``train.py``: LightningCLI over :class:`ReferenceCNNModule` and :class:`LowLightDataModule`."""

from __future__ import annotations

import sys

from lightning.pytorch.cli import LightningCLI

from lowlight.data.datamodule import LowLightDataModule
from lowlight.imageio import ImageReadError
from lowlight.models.reference_module import ReferenceCNNModule
from lowlight.wandb_mode import apply_wandb_mode


def main(args: list[str] | None = None) -> LightningCLI:
    """Parse ``args`` (default ``sys.argv[1:]``) and run the subcommand (``fit``, ``validate``...).

    W&B follows :func:`lowlight.wandb_mode.resolve_wandb_mode` (offline without an account).
    Missing data paths end the program with one line on stderr and exit status 2.
    """
    try:
        apply_wandb_mode()
        return LightningCLI(
            ReferenceCNNModule,
            LowLightDataModule,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            args=args,
        )
    except (FileNotFoundError, NotADirectoryError, ImageReadError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
