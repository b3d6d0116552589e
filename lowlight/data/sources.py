"""Where ground-truth images come from: COCO splits (through their annotation JSON) and folders."""

from __future__ import annotations

import contextlib
import io
import json
import zlib
from collections.abc import Iterable
from pathlib import Path

from pycocotools.coco import COCO

from lowlight.io.images import list_images


class DataSourceError(ValueError):
    """A data source that cannot give images: a broken annotation file, no image, all files missing."""


def coco_split_folder(annotation_json: Path) -> Path:
    """The image folder of a COCO annotation file in the official layout.

    ``root/annotations/instances_val2017.json`` -> ``root/val2017``: the split is the part of the
    file name after its last underscore, which also covers ``person_keypoints_*`` and
    ``image_info_*`` files.
    """
    annotation_json = Path(annotation_json)
    split = annotation_json.stem.rsplit("_", 1)[-1]
    return annotation_json.parent.parent / split


def coco_image_paths(annotation_json: Path) -> list[Path]:
    """Images listed in a COCO annotation file, sorted by file name.

    Only the images of the JSON's ``images`` section are returned (a split folder may hold more
    files); they are not opened here, so a listed file that is missing or broken surfaces when it
    is read.

    Args:
        annotation_json: e.g. ``.../annotations/instances_val2017.json``; its images live in
            ``.../val2017/`` (see :func:`coco_split_folder`).

    Raises:
        FileNotFoundError: the JSON or its image folder does not exist.
        DataSourceError: the JSON is not valid COCO (truncated, not an object, no ``images`` list),
            lists no image, or none of its images exists.
    """
    annotation_json = Path(annotation_json)
    if not annotation_json.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {annotation_json}")
    folder = coco_split_folder(annotation_json)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"COCO image folder not found: {folder} (expected beside the folder of "
            f"{annotation_json})"
        )
    _check_coco_json(annotation_json)
    # pycocotools prints progress ("loading annotations into memory...") on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(annotation_json))
    names = sorted(image["file_name"] for image in coco.loadImgs(coco.getImgIds()))
    if not names:
        raise DataSourceError(f"{annotation_json} lists no image")
    paths = [folder / name for name in names]
    if not any(path.is_file() for path in paths):
        raise DataSourceError(f"none of the {len(paths)} images {annotation_json} lists is in {folder}")
    return paths


def _check_coco_json(annotation_json: Path) -> None:
    """Raise :class:`DataSourceError` unless the file is a JSON object with an ``images`` list of objects."""
    try:
        with annotation_json.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataSourceError(f"{annotation_json}: not a valid JSON file (truncated?): {err}") from err
    if not isinstance(data, dict):
        raise DataSourceError(f"{annotation_json}: expected a COCO JSON object, got a {type(data).__name__}")
    images = data.get("images")
    if not isinstance(images, list) or not all(isinstance(i, dict) and "file_name" in i and "id" in i for i in images):
        raise DataSourceError(f"{annotation_json}: no COCO 'images' list of objects with 'id' and 'file_name'")


def folder_image_paths(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (see :func:`list_images`).

    Raises:
        FileNotFoundError: ``folder`` is not a directory.
    """
    return list_images(Path(folder))


def gather_image_paths(coco_jsons: Iterable[Path] = (), folders: Iterable[Path] = ()) -> list[Path]:
    """All images of several sources: COCO splits first, then folders, each in its own order.

    A file reached through two sources is kept once (at its first place).

    Raises:
        FileNotFoundError: a JSON, a split folder or a folder does not exist.
    """
    paths: list[Path] = []
    for annotation_json in coco_jsons:
        paths.extend(coco_image_paths(annotation_json))
    for folder in folders:
        paths.extend(folder_image_paths(folder))
    seen: set[Path] = set()
    unique: list[Path] = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def split_holdout(paths: Iterable[Path], percent: int) -> tuple[list[Path], list[Path]]:
    """(kept, held out): a file is held out when a hash of its name falls below ``percent``.

    The hash (CRC-32 of the file name, modulo 100) depends on the name alone, so the split is
    fixed whatever other files are added or in which order they come.
    """
    if not 0 <= percent < 100:
        raise ValueError(f"percent must be in [0, 100), got {percent!r}")
    kept: list[Path] = []
    held: list[Path] = []
    for path in paths:
        (held if zlib.crc32(Path(path).name.encode()) % 100 < percent else kept).append(path)
    return kept, held
