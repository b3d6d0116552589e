"""``train.py``: LightningCLI over the project's LightningModules and :class:`LowLightDataModule`.

The model is chosen in the config by ``class_path`` (``lowlight.train.ReferenceCNNModule`` for
the two-stage reference CNNs, the end-to-end module for training through the GP head).
"""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningCLI

from lowlight.data.datamodule import LowLightDataModule
from lowlight.data.sources import DataSourceError
from lowlight.io.images import ImageReadError
from lowlight.io.exit_status import EXIT_INTERRUPTED
from lowlight.io.wandb_mode import apply_wandb_mode


def main(args: list[str] | None = None) -> LightningCLI:
    """Parse ``args`` (default ``sys.argv[1:]``) and run the subcommand (``fit``, ``validate``...).

    W&B follows :func:`lowlight.io.wandb_mode.resolve_wandb_mode` (offline without an account).
    Missing or broken data sources (a missing path, a truncated or non-COCO JSON, a JSON whose
    images are all missing) end the program with one line on stderr and exit status 2; Ctrl-C
    outside Lightning's own handling (which exits 1 after a graceful shutdown) with exit status 130.
    """
    try:
        apply_wandb_mode()
        cli = _LowLightCLI(
            L.LightningModule,
            LowLightDataModule,
            subclass_mode_model=True,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            args=args,
        )
        _finish_wandb_run()  # close the run so an offline one is complete for `wandb sync`
        return cli
    except (FileNotFoundError, NotADirectoryError, ImageReadError, DataSourceError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("train.py: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None


class _LowLightCLI(LightningCLI):
    """LightningCLI with the project's fixes to Lightning's defaults."""

    def fit(self, **kwargs: Any) -> None:
        """``trainer.fit``; Ctrl-C during it (Lightning shuts down gracefully, then exits 1) exits 130."""
        try:
            self.trainer.fit(**kwargs)
        except SystemExit:
            if self.trainer.interrupted:
                print("train.py: interrupted", file=sys.stderr)
                raise SystemExit(EXIT_INTERRUPTED) from None
            raise

    def before_fit(self) -> None:
        # fast_dev_run promises no checkpoint, but ModelCheckpoint(save_last=True) still writes
        # last.ckpt in on_train_end (Lightning 2.6): a smoke test must not leave a resumable file
        if self.trainer.fast_dev_run:
            for callback in self.trainer.checkpoint_callbacks:
                callback.save_last = False


def _finish_wandb_run() -> None:
    wandb = sys.modules.get("wandb")  # only a run that used W&B imported it
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def run() -> None:
    """Console script ``lowlight-train``: :func:`main` with the command line's arguments."""
    main()
