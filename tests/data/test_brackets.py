"""Bracket grouping, reference choice, manifests and the real-pair datasets, on synthetic brackets.

The synthetic brackets are made here: three scenes (structured photos) each shot at exposures
that rise from nearly black to clipped, with Poisson-like noise, stored as numbered JPEGs, so
the true grouping and the well-exposed frame are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.cli.brackets import main as brackets_main
from lowlight.data.brackets import (
    BracketOptions,
    FrameStats,
    bracket_summary,
    find_scenes,
    load_scenes,
    pick_reference,
    rank_correlation,
    scene_pairs,
    split_scenes,
    write_manifest,
)
from lowlight.data.datamodule import LowLightDataModule
from lowlight.data.pair_datasets import MixedTrainDataset, RealPairTrainDataset, RealPairValDataset
from lowlight.data.sources import split_holdout
from tests.images import structured_image, write_images

EXPOSURES = (0.05, 0.15, 0.35, 0.9, 2.5)  # linear gains; 0.9 is the well-exposed frame


def write_brackets(folder: Path, scenes: int = 3, size: int = 48, seed: int = 0) -> list[list[Path]]:
    """Numbered frames 1.jpg ...: ``scenes`` scenes x len(EXPOSURES) exposures, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth: list[list[Path]] = []
    number = 1
    for scene in range(scenes):
        linear = (structured_image(size, size, seed=seed + 10 * scene) / 255.0) ** 2.2
        frames = []
        for gain in EXPOSURES:
            photons = rng.poisson(np.clip(linear * gain, 0, None) * 2000) / 2000
            frame = np.clip(photons, 0, 1) ** (1 / 2.2)
            path = folder / f"{number}.jpg"
            Image.fromarray(np.round(frame * 255).astype(np.uint8)).save(path, quality=95)
            frames.append(path)
            number += 1
        truth.append(frames)
    return truth


def test_grouping_recovers_the_scenes_and_the_well_exposed_reference(tmp_path: Path) -> None:
    truth = write_brackets(tmp_path / "sice")
    scenes = find_scenes(tmp_path / "sice")
    assert [list(s.frames) for s in scenes] == truth
    for scene, frames in zip(scenes, truth):
        assert scene.reference == frames[3]  # gain 0.9: mean near 0.45, not clipped
        # Inputs: frames clearly darker than the reference (mean <= 0.6 x the reference's).
        assert set(scene.inputs) <= set(frames[:3]) and frames[0] in scene.inputs
        assert frames[4] not in scene.inputs
    summary = bracket_summary(scenes)
    assert summary["scenes"] == 3 and summary["frames"] == 15 and summary["frames_median"] == 5


def test_rank_correlation_ignores_exposure_but_not_content() -> None:
    def stats(image: np.ndarray) -> FrameStats:
        from lowlight.data.brackets import frame_stats

        return frame_stats(torch.from_numpy(image).permute(2, 0, 1).float() / 255, Path("x"), 16)

    base = structured_image(64, 64, seed=3).astype(np.float64)
    darker = np.round(base * 0.3).astype(np.uint8)  # a shorter exposure: a monotonic map
    other = structured_image(64, 64, seed=4)
    same = rank_correlation(stats(base.astype(np.uint8)), stats(darker))
    different = rank_correlation(stats(base.astype(np.uint8)), stats(other))
    assert same > 0.95 and different < 0.5


def test_reference_rule_prefers_unclipped_frames_near_the_target() -> None:
    def frame(mean: float, clipped: float) -> FrameStats:
        return FrameStats(Path(f"{mean}.jpg"), np.zeros(1), mean, clipped)

    options = BracketOptions(target_mean=0.45, max_clipped=0.1)
    scene = [frame(0.05, 0.0), frame(0.3, 0.0), frame(0.5, 0.05), frame(0.6, 0.5)]
    assert pick_reference(scene, options).mean_luma == 0.5
    all_clipped = [frame(0.8, 0.4), frame(0.9, 0.2)]
    assert pick_reference(all_clipped, options).mean_luma == 0.9  # the least clipped
    with pytest.raises(ValueError, match="at least one frame"):
        pick_reference([], options)


def test_options_name_their_bad_value() -> None:
    with pytest.raises(ValueError, match="val_percent must be in"):
        BracketOptions(val_percent=100)
    with pytest.raises(ValueError, match="max_drop"):
        BracketOptions(max_drop=0.0)


def test_manifest_round_trip_and_bad_manifest(tmp_path: Path) -> None:
    write_brackets(tmp_path / "sice", scenes=2)
    scenes = find_scenes(tmp_path / "sice")
    manifest = tmp_path / "manifests" / "scenes.json"
    manifest.parent.mkdir()
    write_manifest(scenes, manifest)
    loaded = load_scenes(manifest)
    assert [[p.resolve() for p in s.frames] for s in loaded] == [list(s.frames) for s in scenes]
    assert [s.reference.resolve() for s in loaded] == [s.reference for s in scenes]
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="not a bracket manifest"):
        load_scenes(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_scenes(tmp_path / "missing")


def test_validation_scenes_are_a_fixed_share_by_name(tmp_path: Path) -> None:
    write_brackets(tmp_path / "sice", scenes=3)
    scenes = find_scenes(tmp_path / "sice")
    train, val = split_scenes(scenes, 50)
    assert sorted(s.name for s in train + val) == sorted(s.name for s in scenes)
    assert split_scenes(scenes, 50) == (train, val)
    assert split_scenes(scenes, 0) == (scenes, [])


def test_split_holdout_depends_on_the_name_only() -> None:
    paths = [Path(f"/a/{i}.jpg") for i in range(200)]
    kept, held = split_holdout(paths, 10)
    assert 5 <= len(held) <= 40 and len(kept) + len(held) == 200
    moved = [Path(f"/elsewhere/{p.name}") for p in reversed(paths)]
    assert {p.name for p in split_holdout(moved, 10)[1]} == {p.name for p in held}
    with pytest.raises(ValueError, match="percent must be in"):
        split_holdout(paths, 100)


def test_real_pair_crops_stay_aligned(tmp_path: Path) -> None:
    image = write_images(tmp_path / "p", 1, size=(40, 52))[0]
    dataset = RealPairTrainDataset([(image, image)], crop_size=24, seed=3, length=6,
                                   scale_range=(0.7, 1.0))
    for index in range(6):
        item = dataset[(1, index)]
        assert item["lq"].shape == item["gt"].shape == (3, 24, 24)
        torch.testing.assert_close(item["lq"], item["gt"])  # same crop, flips and resize
    torch.testing.assert_close(dataset[(1, 2)]["lq"], dataset[(1, 2)]["lq"])  # reproducible
    val = RealPairValDataset([(image, image)], size=16)
    assert val[0]["lq"].shape == (3, 16, 16)


def test_mixed_dataset_interleaves_a_fixed_fraction(tmp_path: Path) -> None:
    from lowlight.data.datasets import LowLightTrainDataset

    photos = write_images(tmp_path / "photos", 3, size=(32, 32))
    dark = write_images(tmp_path / "dark", 2, size=(32, 32), seed=5, prefix="dark")
    synthetic = LowLightTrainDataset(photos, crop_size=16, length=20)
    real = RealPairTrainDataset(list(zip(dark, photos)), crop_size=16)
    mixed = MixedTrainDataset(synthetic, real, real_fraction=0.25)
    sources = ["dark" in Path(mixed[(0, i)]["path"]).name for i in range(20)]
    assert sum(sources) == 5 and sources[3] and sources[7] and not sources[0]
    with pytest.raises(ValueError, match="real_fraction"):
        MixedTrainDataset(synthetic, real, 1.5)


def test_datamodule_adds_real_pairs_and_val_real(tmp_path: Path) -> None:
    write_brackets(tmp_path / "sice", scenes=4, size=40)
    photos = write_images(tmp_path / "photos", 12, size=(36, 36))
    module = LowLightDataModule(
        train_dirs=[photos[0].parent], brackets=[tmp_path / "sice"], holdout_percent=30,
        bracket_options=BracketOptions(val_percent=50), crop_size=16, batch_size=4, val_size=24,
        samples_per_epoch=16,
    )
    module.setup("fit")
    train_scenes, val_scenes = module.bracket_scenes()
    if not val_scenes or not scene_pairs(train_scenes):
        pytest.skip("the name hash put every scene on one side")  # not the case for 4 scenes
    assert module.val_loader_names == ["val/a", "val/b", "val_real"]
    assert isinstance(module.train_dataset, MixedTrainDataset)
    loaders = module.val_dataloader()
    assert len(loaders) == 3 and len(loaders[2].dataset) == len(scene_pairs(val_scenes))
    held = {Path(p).name for p in loaders[0].dataset.paths}
    trained = {Path(p).name for p in module.train_dataset.synthetic.paths}
    assert held and not held & trained  # validation photos never train
    assert {s.reference.name for s in train_scenes} <= trained | held
    batch = next(iter(module.train_dataloader()))
    assert batch["lq"].shape == (4, 3, 16, 16)


def test_datamodule_refuses_two_validation_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holdout_percent and coco_val"):
        LowLightDataModule(val_dirs=[tmp_path], holdout_percent=10)


def test_brackets_cli_reports_and_writes_a_manifest(tmp_path: Path, capsys) -> None:
    write_brackets(tmp_path / "sice", scenes=2)
    assert brackets_main([str(tmp_path / "sice"), "--write", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "'scenes': 2" in out and (tmp_path / "s.json").is_file()
    assert brackets_main([str(tmp_path / "nothing")]) == 2
    assert "error" in capsys.readouterr().err
