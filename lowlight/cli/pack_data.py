"""``python -m lowlight.cli.pack_data``: a compact copy of the training data for another machine.

Remote GPU machines often take only a small upload. This writes every training photo (COCO
splits and folders) and the frames that bracket scenes use (references and darker inputs),
resized so that the longer side is ``--long-side`` and stored as JPEG, keeping file names (so
the hash-based hold-out splits stay the same), plus a bracket manifest:

    OUT/photos/<name>.jpg           every training photo
    OUT/brackets/<n>.jpg            frames of the bracket scenes that form pairs or references
    OUT/brackets/scenes.json        the scenes (``--data.brackets OUT/brackets/scenes.json``)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from lowlight.data.brackets import BracketScene, load_scenes, write_manifest
from lowlight.data.sources import gather_image_paths


def _shrink_copy(source: Path, target: Path, long_side: int, quality: int) -> None:
    from lowlight.atomic import atomic_path

    with Image.open(source) as img:
        img = img.convert("RGB")
        scale = long_side / max(img.size)
        if scale < 1:
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img = img.resize(size, Image.Resampling.LANCZOS)
        with atomic_path(target) as tmp:
            img.save(tmp, format="JPEG", quality=quality)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowlight.cli.pack_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco", type=Path, nargs="*", default=[], help="COCO annotation JSONs")
    parser.add_argument("--dirs", type=Path, nargs="*", default=[], help="photo folders")
    parser.add_argument("--brackets", type=Path, nargs="*", default=[],
                        help="bracket folders or manifests")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--long-side", type=int, default=384)
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args(argv)
    if args.long_side < 16 or not 1 <= args.quality <= 100:
        print("pack_data: error: --long-side must be >= 16 and --quality in 1..100", file=sys.stderr)
        return 2
    try:
        photos = gather_image_paths(args.coco, args.dirs)
        scenes = [s for b in args.brackets for s in load_scenes(b, progress=True)]
    except (FileNotFoundError, ValueError) as err:
        print(f"pack_data: error: {err}", file=sys.stderr)
        return 2
    (args.out / "photos").mkdir(parents=True, exist_ok=True)
    (args.out / "brackets").mkdir(parents=True, exist_ok=True)
    for path in tqdm(photos, desc="photos", unit="img"):
        _shrink_copy(path, args.out / "photos" / f"{path.stem}.jpg", args.long_side, args.quality)
    packed: list[BracketScene] = []
    for scene in tqdm(scenes, desc="bracket scenes", unit="scene"):
        # The first frame names the scene, which fixes its train / val_real side: keep it.
        used = {scene.frames[0], scene.reference, *scene.inputs}
        for frame in used:
            _shrink_copy(frame, args.out / "brackets" / f"{frame.stem}.jpg", args.long_side,
                         args.quality)
        moved = {f: args.out / "brackets" / f"{f.stem}.jpg" for f in used}
        packed.append(replace(
            scene,
            frames=tuple(moved[f] for f in scene.frames if f in moved),
            reference=moved[scene.reference],
            inputs=tuple(moved[f] for f in scene.inputs),
        ))
    write_manifest(packed, args.out / "brackets" / "scenes.json")
    print(f"packed {len(photos)} photos and {len(packed)} scenes into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
