"""Enhance low-light photos: ``uv run infer.py INPUT... -o OUTDIR`` or ``uv run infer.py --demo``."""

import sys

from lowlight.cli.infer import main

if __name__ == "__main__":
    sys.exit(main())
