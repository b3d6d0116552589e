from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lowlight.evaluation.images import (
    ImageSetError,
    coco_image_paths,
    image_set_paths,
    load_ground_truth,
    resize_exact,
    resize_longer_side,
)
from tests.conftest import shared_path
from tests.images import write_coco_split, write_images


def test_folder_sorted_and_cut(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "photos", 4)
    assert image_set_paths(tmp_path / "photos") == sorted(paths, key=lambda p: p.name)
    assert image_set_paths(tmp_path / "photos", max_images=2) == sorted(paths)[:2]


def test_coco_split_lists_only_annotated_images_sorted(tmp_path: Path) -> None:
    json_path = write_coco_split(tmp_path, "val2017", count=3, unlisted=2)
    listed = json.loads(json_path.read_text())["images"]
    paths = image_set_paths(json_path)
    assert [p.name for p in paths] == sorted(e["file_name"] for e in listed)
    assert all(p.parent == tmp_path / "val2017" for p in paths)


def test_coco_mini_val_has_79_images() -> None:
    json_path = shared_path("data/coco-mini/annotations/instances_val2017.json")
    paths = image_set_paths(json_path)
    assert len(paths) == 79 and paths == sorted(paths, key=lambda p: p.name)


def test_not_coco_json(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val").mkdir()
    bad = tmp_path / "annotations" / "instances_val.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ImageSetError, match="not a COCO annotation file"):
        coco_image_paths(bad)
    bad.write_text("{not json")
    with pytest.raises(ImageSetError, match="not a COCO annotation file"):
        coco_image_paths(bad)


def test_coco_missing_listed_image(tmp_path: Path) -> None:
    json_path = write_coco_split(tmp_path, "val2017", count=2)
    first = image_set_paths(json_path)[0]
    first.unlink()
    with pytest.raises(ImageSetError, match="1 listed image\\(s\\) missing"):
        image_set_paths(json_path)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ImageSetError, match="no such file or folder"):
        image_set_paths(tmp_path / "nowhere")
    text = tmp_path / "list.txt"
    text.write_text("x")
    with pytest.raises(ImageSetError, match="expected a COCO instances_\\*.json file or an image"):
        image_set_paths(text)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageSetError, match="no images found"):
        image_set_paths(tmp_path / "empty")
    with pytest.raises(ValueError, match="max_images must be > 0, got 0"):
        image_set_paths(tmp_path / "empty", max_images=0)


def test_load_ground_truth_is_the_protocol_resize(tmp_path: Path) -> None:
    path = write_images(tmp_path, 1, size=(30, 50))[0]
    gt = load_ground_truth(path)
    assert gt.shape == (1, 3, 256, 256) and gt.dtype == torch.float32
    assert 0.0 <= gt.min() and gt.max() <= 1.0
    from lowlight.io.images import read_image

    expected = torch.nn.functional.interpolate(
        read_image(path)[None], size=(256, 256), mode="bilinear", antialias=True,
        align_corners=False,
    )
    torch.testing.assert_close(gt, expected.clamp(0, 1))


def test_resize_constant_stays_constant_and_aspect() -> None:
    image = torch.full((1, 3, 30, 60), 0.3)
    torch.testing.assert_close(resize_exact(image, 7, 9), torch.full((1, 3, 7, 9), 0.3))
    assert resize_longer_side(image, 512).shape == (1, 3, 256, 512)
    assert resize_longer_side(image.transpose(2, 3), 100).shape == (1, 3, 100, 50)
