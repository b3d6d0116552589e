"""Optional Weights & Biases logging of an evaluation (``--wandb``).

The mode is :func:`lowlight.io.wandb_mode.resolve_wandb_mode`'s: ``WANDB_MODE`` when set, else
``online`` when an API key is configured (``WANDB_API_KEY`` or ``~/.netrc``), else ``offline``
(files under ``wandb/``, uploaded later by ``wandb sync``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from lowlight.evaluation.report import k_sweep
from lowlight.evaluation.runner import BRIGHT_INPUT, DARK_INPUT, EvaluationResult
from lowlight.io.wandb_mode import resolve_wandb_mode


def log_to_wandb(
    result: EvaluationResult | None,
    sheet_path: Path,
    config: Mapping[str, object],
    project: str = "lowlight-eval",
    directory: Path | None = None,
    k_plot: Path | None = None,
) -> str:
    """Log the summary and per-pair tables (when ``result`` is given), the k sweep (table
    ``k_sweep``: method, k and the metrics, plus the ``metrics_vs_k`` plot when ``k_plot`` is
    given) and the contact sheet.

    Returns:
        The mode the run used.
    """
    import wandb  # imported here: only --wandb needs it

    mode = resolve_wandb_mode()
    run = wandb.init(
        project=project,
        mode=mode,
        config=dict(config),
        dir=None if directory is None else str(directory),
        job_type="evaluate",
    )
    try:
        if result is not None:
            rows = [*result.summaries(DARK_INPUT), *result.summaries(BRIGHT_INPUT)]
            summary_columns = [f.name for f in dataclasses.fields(rows[0])] if rows else []
            run.log(
                {
                    "summary": wandb.Table(
                        columns=summary_columns,
                        data=[list(dataclasses.asdict(r).values()) for r in rows],
                    )
                }
            )
            sweep = [
                [base, k, row.psnr, row.ssim, row.sift_precision, row.sift_recall, row.sift_f1, row.time_ms]
                for base, points in k_sweep(result.summaries(DARK_INPUT)).items()
                for k, row in points
            ]
            if sweep:
                columns = ["method", "k", "psnr", "ssim", "sift_precision", "sift_recall", "sift_f1", "time_ms"]
                run.log({"k_sweep": wandb.Table(columns=columns, data=sweep)})
            pair_columns = [f.name for f in dataclasses.fields(result.pairs[0])]
            run.log(
                {
                    "pairs": wandb.Table(
                        columns=pair_columns,
                        data=[list(dataclasses.asdict(p).values()) for p in result.pairs],
                    )
                }
            )
        if k_plot is not None:
            run.log({"metrics_vs_k": wandb.Image(str(k_plot))})
        run.log({"contact_sheet": wandb.Image(str(sheet_path))})
    finally:
        run.finish()
    return mode
