"""``python -m lowlight.cli.brackets DIR``: group an exposure-bracket folder into scenes and report.

Prints the number of scenes, frames per scene and real pairs (all, training, held-out
``val_real``); ``--write FILE`` saves the grouping as a JSON manifest that ``train.py``'s
``--data.brackets`` accepts in place of the folder (it saves re-reading every frame).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from lowlight.data.brackets import (
    BracketOptions,
    bracket_summary,
    find_scenes,
    split_scenes,
    write_manifest,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowlight.cli.brackets", description=__doc__)
    parser.add_argument("folder", type=Path, help="numbered frames 1.jpg, 2.jpg, ...")
    parser.add_argument("--write", type=Path, help="save the scenes as a JSON manifest")
    args = parser.parse_args(argv)
    options = BracketOptions()
    try:
        scenes = find_scenes(args.folder, options, progress=True)
    except (FileNotFoundError, ValueError) as err:
        print(f"brackets: error: {err}", file=sys.stderr)
        return 2
    train, val = split_scenes(scenes, options.val_percent)
    for name, group in (("all", scenes), ("train", train), ("val_real", val)):
        print(name, bracket_summary(group))
    sizes = Counter(len(s.frames) for s in scenes)
    print("frames per scene:", dict(sorted(sizes.items())))
    if args.write:
        write_manifest(scenes, args.write)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
