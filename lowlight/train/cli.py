"""``train.py``: LightningCLI over the project's LightningModules and :class:`LowLightDataModule`.

The model is chosen in the config by ``class_path`` (``lowlight.train.ReferenceCNNModule`` for
the two-stage reference CNNs, the end-to-end module for training through the GP head).
"""

from __future__ import annotations

import sys

import lightning as L
from lightning.pytorch.cli import LightningCLI

from lowlight.data.datamodule import LowLightDataModule
from lowlight.io.images import ImageReadError
from lowlight.io.wandb_mode import apply_wandb_mode


def main(args: list[str] | None = None) -> LightningCLI:
    """Parse ``args`` (default ``sys.argv[1:]``) and run the subcommand (``fit``, ``validate``...).

    W&B follows :func:`lowlight.io.wandb_mode.resolve_wandb_mode` (offline without an account).
    Missing data paths end the program with one line on stderr and exit status 2.
    """
    try:
        apply_wandb_mode()
        cli = LightningCLI(
            L.LightningModule,
            LowLightDataModule,
            subclass_mode_model=True,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            args=args,
        )
        _finish_wandb_run()  # close the run so an offline one is complete for `wandb sync`
        return cli
    except (FileNotFoundError, NotADirectoryError, ImageReadError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _finish_wandb_run() -> None:
    wandb = sys.modules.get("wandb")  # only a run that used W&B imported it
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def run() -> None:
    """Console script ``lowlight-train``: :func:`main` with the command line's arguments."""
    main()
