"""Image sources: COCO annotation files (official layout) and plain folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lowlight.data.sources import (
    coco_image_paths,
    coco_split_folder,
    folder_image_paths,
    gather_image_paths,
)
from tests.conftest import shared_path
from tests.images import write_coco_split, write_images


def test_coco_image_paths_lists_only_the_json_images_sorted(tmp_path: Path, capsys) -> None:
    json_path = write_coco_split(tmp_path / "coco", "train2017", count=5, unlisted=2)
    listed = json.loads(json_path.read_text())["images"]
    expected = sorted(tmp_path / "coco" / "train2017" / entry["file_name"] for entry in listed)

    paths = coco_image_paths(json_path)

    assert paths == expected
    assert len(list((tmp_path / "coco" / "train2017").iterdir())) == 7  # two are not listed
    assert capsys.readouterr().out == ""  # pycocotools' progress messages are silenced


def test_coco_split_folder_follows_the_official_layout() -> None:
    root = Path("/data/coco")
    assert coco_split_folder(root / "annotations" / "instances_val2017.json") == root / "val2017"
    assert coco_split_folder(root / "annotations" / "person_keypoints_train2017.json") == (
        root / "train2017"
    )


def test_coco_missing_json_or_folder(tmp_path: Path) -> None:
    missing = tmp_path / "annotations" / "instances_val2017.json"
    with pytest.raises(FileNotFoundError, match=r"annotation file not found: .*instances_val2017"):
        coco_image_paths(missing)
    json_path = write_coco_split(tmp_path / "coco", "val2017", count=2)
    for image in (tmp_path / "coco" / "val2017").iterdir():
        image.unlink()
    (tmp_path / "coco" / "val2017").rmdir()
    with pytest.raises(FileNotFoundError, match=r"image folder not found: .*coco/val2017"):
        coco_image_paths(json_path)


def test_coco_json_without_images(tmp_path: Path) -> None:
    json_path = write_coco_split(tmp_path / "coco", "val2017", count=0, unlisted=1)
    with pytest.raises(ValueError, match="lists no image"):
        coco_image_paths(json_path)


def test_folder_image_paths(tmp_path: Path) -> None:
    written = write_images(tmp_path / "photos", 3)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    assert folder_image_paths(tmp_path / "photos") == written
    with pytest.raises(FileNotFoundError, match="missing"):
        folder_image_paths(tmp_path / "missing")


def test_gather_combines_sources_and_drops_duplicates(tmp_path: Path) -> None:
    json_path = write_coco_split(tmp_path / "coco", "train2017", count=3)
    folder = write_images(tmp_path / "photos", 2)
    paths = gather_image_paths([json_path], [tmp_path / "photos", tmp_path / "photos"])
    assert paths == coco_image_paths(json_path) + folder


def test_real_coco_mini_counts() -> None:
    train_json = shared_path("data/coco-mini/annotations/instances_train2017.json")
    val_json = shared_path("data/coco-mini/annotations/instances_val2017.json")
    train, val = coco_image_paths(train_json), coco_image_paths(val_json)
    assert len(train) == 80 and len(val) == 79
    assert all(p.is_file() for p in train + val)
    assert val == sorted(val) and {p.parent.name for p in val} == {"val2017"}
    assert len(list((val_json.parent.parent / "val2017").iterdir())) > len(val)
