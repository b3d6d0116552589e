"""``python -m lowlight.evaluation``: the evaluation command (see :mod:`lowlight.evaluation.cli`)."""

from __future__ import annotations

from lowlight.evaluation.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
