"""``python -m lowlight.bench._one_size``: time one enhancer configuration on one image size.

Run by :mod:`lowlight.bench.sweep` in a fresh interpreter per (size, path), so that the peak
resident memory it reports (:func:`lowlight.bench.memory.peak_rss_gb`: the whole process, torch
and the model included) belongs to that size alone. Prints one JSON line:
``{"seconds": [...], "peak_gb": float}`` (timed calls after one warm-up call; GB = 1e9 bytes).
"""

from __future__ import annotations

import argparse
import json

import torch

from lowlight.bench.memory import peak_rss_gb
from lowlight.bench.pipeline import enhancer_times
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig


def main(argv: list[str] | None = None) -> None:
    """Parse the size, configuration and calls; print the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m lowlight.bench._one_size")
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--mode", choices=("cm", "lm"), default="cm")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--overrides", default="{}", help="JSON object of EnhancerConfig fields")
    parser.add_argument("--calls", type=int, default=5, help="timed calls after one warm-up call")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = EnhancerConfig(mode=args.mode, gp=GPOptions(k=args.k), **json.loads(args.overrides))
    seconds = enhancer_times(Enhancer.from_checkpoint(config), args.height, args.width, args.calls)
    print(json.dumps({"seconds": seconds, "peak_gb": peak_rss_gb()}))


if __name__ == "__main__":
    main()
