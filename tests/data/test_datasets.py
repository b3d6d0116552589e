"""Datasets: crops, flips, determinism, per-epoch shuffling, fixed validation pairs, bad files."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.data.darken import DarkeningConfig
from lowlight.data.datasets import (
    VAL_GAMMAS_A,
    VAL_GAMMAS_B,
    EpochSampler,
    LowLightTrainDataset,
    LowLightValDataset,
    random_crop,
    round_up_to_multiple,
    seeded_generator,
)
from lowlight.io.images import read_image
from tests.images import write_bad_images, write_images, write_mode_images

GLOBAL_ONLY = DarkeningConfig(bright_prob=0.0, light_field_prob=0.0, noise_prob=0.0)


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return write_images(tmp_path / "photos", 5, size=(40, 56))


def windows(image: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Every size x size window of ``image``, each in its four flip states."""
    out = []
    for top in range(image.shape[1] - size + 1):
        for left in range(image.shape[2] - size + 1):
            window = image[:, top : top + size, left : left + size]
            out += [window, window.flip(-1), window.flip(-2), window.flip(-1).flip(-2)]
    return out


# ---------------------------------------------------------------- crops


def test_random_crop_is_a_window_of_the_image_and_flips_happen() -> None:
    image = torch.rand(3, 12, 15, generator=torch.Generator().manual_seed(0))
    candidates = windows(image, 8)
    flipped = 0
    for seed in range(12):
        crop = random_crop(image, 8, torch.Generator().manual_seed(seed))
        matches = [i for i, w in enumerate(candidates) if torch.equal(w, crop)]
        assert matches, "the crop is not a (flipped) window of the image"
        flipped += matches[0] % 4 != 0
    assert 0 < flipped < 12


def test_random_crop_upscales_small_images() -> None:
    image = torch.rand(3, 10, 30, generator=torch.Generator().manual_seed(1))
    crop = random_crop(image, 20, torch.Generator().manual_seed(2))
    assert crop.shape == (3, 20, 20)
    assert float(crop.min()) >= 0.0 and float(crop.max()) <= 1.0


def test_random_crop_scale_range_shows_more_of_the_image() -> None:
    # A horizontal ramp: at half scale a crop spans twice the value range.
    image = torch.linspace(0, 1, 64).expand(3, 64, 64).contiguous()
    full = random_crop(image, 16, torch.Generator().manual_seed(3), flips=False)
    half = random_crop(image, 16, torch.Generator().manual_seed(3), (0.5, 0.5), flips=False)
    span = lambda crop: float(crop[0, 0, -1] - crop[0, 0, 0])  # noqa: E731
    assert span(half) == pytest.approx(2 * span(full), rel=0.05)


def test_random_crop_errors() -> None:
    image = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match="size must be > 0, got 0"):
        random_crop(image, 0, torch.Generator())
    with pytest.raises(ValueError, match=r"scale_range .* got \(1.0, 0.5\)"):
        random_crop(image, 4, torch.Generator(), (1.0, 0.5))
    with pytest.raises(ValueError, match=r"expected \(C, H, W\), got \(1, 3, 8, 8\)"):
        random_crop(image[None], 4, torch.Generator())


# ---------------------------------------------------------------- training dataset


def test_train_item_shapes_and_content(photos: list[Path]) -> None:
    dataset = LowLightTrainDataset(photos, crop_size=16, darkening=GLOBAL_ONLY, seed=3)
    item = dataset[0]
    assert set(item) == {"lq", "gt", "path"}
    assert item["lq"].shape == item["gt"].shape == (3, 16, 16)
    assert item["lq"].dtype == item["gt"].dtype == torch.float32
    assert Path(item["path"]) in photos
    # gt is a (flipped) window of the file, lq its global-gamma darkening for some gamma in [2, 6].
    source = read_image(Path(item["path"]))
    assert any(torch.equal(w, item["gt"]) for w in windows(source, 16))
    gt, lq = item["gt"].double(), item["lq"].double()
    candidates = [g for g in np.linspace(2, 6, 401)
                  if float((torch.round(gt**g * 255) / 255 - lq).abs().max()) <= 1 / 255 + 1e-6]
    assert candidates, "lq is not gt ** gamma for any gamma in [2, 6]"


def test_train_items_are_a_function_of_seed_epoch_and_index(photos: list[Path]) -> None:
    first = LowLightTrainDataset(photos, crop_size=16, seed=7)
    second = LowLightTrainDataset(photos, crop_size=16, seed=7)
    for key in [(0, 0), (0, 3), (2, 1)]:
        a, b = first[key], second[key]
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])
    second.set_epoch(2)
    assert torch.equal(second[1]["lq"], first[(2, 1)]["lq"])
    other_seed = LowLightTrainDataset(photos, crop_size=16, seed=8)
    assert not torch.equal(other_seed[(0, 0)]["lq"], first[(0, 0)]["lq"])
    assert not torch.equal(first[(1, 0)]["lq"], first[(0, 0)]["lq"])


def test_train_epochs_visit_every_file_evenly(photos: list[Path]) -> None:
    dataset = LowLightTrainDataset(photos, crop_size=8, seed=0)
    orders = [[dataset.path_index(epoch, i) for i in range(len(dataset))] for epoch in range(3)]
    assert all(sorted(order) == list(range(5)) for order in orders)  # a permutation per epoch
    assert len({tuple(order) for order in orders}) > 1  # reshuffled between epochs

    repeated = LowLightTrainDataset(photos, crop_size=8, seed=0, length=10)
    assert Counter(repeated.path_index(0, i) for i in range(10)) == {i: 2 for i in range(5)}

    subset = LowLightTrainDataset(photos, crop_size=8, seed=0, length=2)
    seen = Counter(subset.path_index(epoch, i) for epoch in range(5) for i in range(2))
    assert sorted(seen) == list(range(5)) and max(seen.values()) - min(seen.values()) <= 1


def test_train_dataset_errors(photos: list[Path]) -> None:
    with pytest.raises(ValueError, match="at least one image path"):
        LowLightTrainDataset([])
    with pytest.raises(ValueError, match="crop_size must be > 0, got 0"):
        LowLightTrainDataset(photos, crop_size=0)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        LowLightTrainDataset(photos, seed=-1)
    dataset = LowLightTrainDataset(photos, crop_size=8)
    with pytest.raises(IndexError, match="index 5 out of range"):
        dataset[5]
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        dataset.set_epoch(-1)


def test_epoch_sampler_carries_the_epoch() -> None:
    sampler = EpochSampler(3)
    assert list(sampler) == [(0, 0), (0, 1), (0, 2)] and len(sampler) == 3
    sampler.set_epoch(4)
    assert list(sampler) == [(4, 0), (4, 1), (4, 2)]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_epoch_sampler_shards_are_disjoint_and_cover_the_epoch(world: int) -> None:
    length, batch = 24, 2
    shards = []
    for rank in range(world):
        sampler = EpochSampler(length, num_replicas=world, rank=rank)
        sampler.set_epoch(3)
        shards.append(list(sampler))
        assert len(sampler) == length // world == len(shards[-1])
    keys = [key for shard in shards for key in shard]
    assert len(set(keys)) == len(keys)  # disjoint
    assert sorted(keys) == [(3, i) for i in range(length)]  # together: the whole epoch
    # step s of all ranks holds the items of step s of one process with batch world * batch
    for step in range(length // (world * batch)):
        together = {key for shard in shards for key in shard[step * batch : (step + 1) * batch]}
        assert together == {(3, i) for i in range(step * world * batch, (step + 1) * world * batch)}


def test_epoch_sampler_refuses_uneven_shares_and_bad_ranks() -> None:
    with pytest.raises(ValueError, match="length 5 is not a multiple of num_replicas 2"):
        EpochSampler(5, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match=r"rank must be in 0\.\.1, got 2"):
        EpochSampler(4, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1, got 0"):
        EpochSampler(4, num_replicas=0)
    assert round_up_to_multiple(5, 2) == 6 and round_up_to_multiple(6, 3) == 6 and round_up_to_multiple(0, 4) == 0


def test_seeded_generator_streams_differ() -> None:
    draw = lambda *e: torch.rand(4, generator=seeded_generator(*e))  # noqa: E731
    assert torch.equal(draw(0, 1, 2), draw(0, 1, 2))
    assert not torch.equal(draw(0, 1, 2), draw(0, 2, 1))
    with pytest.raises(ValueError, match="non-negative"):
        seeded_generator(0, -1)


# ---------------------------------------------------------------- bad files


def test_unreadable_files_are_skipped_counted_and_warned_once(tmp_path: Path) -> None:
    good = write_images(tmp_path / "mixed", 3, size=(24, 24))
    bad = write_bad_images(tmp_path / "mixed")
    paths = sorted(good + bad)
    dataset = LowLightTrainDataset(paths, crop_size=8, seed=0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [dataset[(0, i)] for i in range(len(dataset))]
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 3 and all("skipping unreadable image" in m for m in messages)
    assert {Path(item["path"]) for item in items} <= set(good)
    assert dataset.skipped_files == 3 and dataset.bad_paths == sorted(bad)

    with warnings.catch_warnings(record=True) as caught:  # known bad files: no new warning
        warnings.simplefilter("always")
        for i in range(len(dataset)):
            dataset[(1, i)]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert dataset.skipped_files == 3


def test_all_files_unreadable_is_an_error(tmp_path: Path) -> None:
    dataset = LowLightValDataset(write_bad_images(tmp_path / "bad"), size=8)
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="none of the 3 images"):
        dataset[0]


# ---------------------------------------------------------------- validation dataset


def test_val_pairs_use_fixed_gamma_and_protocol_resize(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "val", 3, size=(40, 56))
    dataset = LowLightValDataset(paths, size=32, variant="a")
    for index, path in enumerate(paths):
        item = dataset[index]
        assert item["lq"].shape == item["gt"].shape == (3, 32, 32) and item["path"] == str(path)
        # Reference resize: Pillow's bilinear filter, antialiased when shrinking.
        with Image.open(path) as image:
            reference = np.asarray(image.convert("RGB").resize((32, 32), Image.BILINEAR)) / 255.0
        gt = item["gt"].permute(1, 2, 0).double().numpy()
        assert np.abs(gt - reference).max() < 2.5 / 255
        gamma = float(VAL_GAMMAS_A[index])
        assert dataset.gamma(index) == pytest.approx(2.0 + index / 6.0)
        expected = np.round(gt**gamma * 255)
        levels = (item["lq"].permute(1, 2, 0).double() * 255).round().numpy()
        assert np.abs(levels - expected).max() <= 1 and (levels == expected).mean() > 0.99
        assert torch.equal(dataset[index]["lq"], item["lq"])  # fixed, not random


def test_val_variant_b_is_fixed_noisy_and_darker_locally(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "val", 2, size=(32, 32))
    first = LowLightValDataset(paths, size=32, variant="b", seed=0)
    again = LowLightValDataset(paths, size=32, variant="b", seed=0)
    other = LowLightValDataset(paths, size=32, variant="b", seed=1)
    item = first[1]
    assert torch.equal(item["lq"], again[1]["lq"])
    assert not torch.equal(item["lq"], other[1]["lq"])
    assert first.gamma(1) == pytest.approx(float(VAL_GAMMAS_B[1]))
    clean = torch.round(item["gt"].double() ** first.gamma(1) * 255) / 255
    assert not torch.equal(item["lq"].double(), clean)
    # Light in (0, 1] darkens: on average lq stays below the clean darkening plus the noise.
    assert float(item["lq"].mean()) < float(clean.mean()) + 0.01


def test_modes_are_converted_through_the_dataset(tmp_path: Path) -> None:
    modes = write_mode_images(tmp_path / "modes", size=(24, 24))
    names = sorted(modes)
    paths = [modes[name][0] for name in names]
    val = LowLightValDataset(paths, size=24)  # the images' own size: no resampling
    train = LowLightTrainDataset(paths, crop_size=24, seed=0)
    for index, name in enumerate(names):
        expected = torch.from_numpy(modes[name][1]).permute(2, 0, 1).float()  # (3, H, W)
        assert torch.allclose(val[index]["gt"], expected, atol=1e-6), name
    for index in range(len(train)):
        item = train[(0, index)]
        expected = torch.from_numpy(modes[Path(item["path"]).stem.removeprefix("mode_")][1])
        expected = expected.permute(2, 0, 1).float()  # (3, H, W)
        flips = [expected, expected.flip(-1), expected.flip(-2), expected.flip(-1).flip(-2)]
        assert any(torch.allclose(f, item["gt"], atol=1e-6) for f in flips), item["path"]
