"""The LightningDataModule: sources, batches, epochs under a Trainer, bad files, YAML configs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from jsonargparse import ArgumentParser
from lightning.pytorch.cli import LightningCLI

from lowlight.data.darken import DarkeningConfig
from lowlight.data.datamodule import LowLightDataModule
from lowlight.data.datasets import VAL_GAMMAS_A
from lowlight.data.sources import coco_image_paths
from tests.conftest import shared_path
from tests.images import write_bad_images, write_coco_split, write_images


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    return {
        "coco_train": write_coco_split(tmp_path / "coco", "train2017", count=4, unlisted=1),
        "coco_val": write_coco_split(tmp_path / "coco", "val2017", count=3, seed=1),
        "train_dir": write_images(tmp_path / "extra", 3, size=(36, 48), seed=2)[0].parent,
    }


def make_module(sources: dict[str, Path], **overrides: object) -> LowLightDataModule:
    options: dict[str, object] = {
        "coco_train": [sources["coco_train"]],
        "train_dirs": [sources["train_dir"]],
        "coco_val": [sources["coco_val"]],
        "crop_size": 16,
        "batch_size": 3,
        "val_size": 24,
    }
    options.update(overrides)
    return LowLightDataModule(**options)  # type: ignore[arg-type]


def test_batches_from_combined_sources(sources: dict[str, Path]) -> None:
    module = make_module(sources)
    module.setup("fit")
    assert module.train_dataset is not None and len(module.train_dataset) == 4 + 3
    expected = set(map(str, coco_image_paths(sources["coco_train"])))
    expected |= {str(p) for p in sources["train_dir"].iterdir()}
    seen: set[str] = set()
    for batch in module.train_dataloader():
        assert set(batch) == {"lq", "gt", "path"}
        assert batch["lq"].shape[1:] == batch["gt"].shape[1:] == (3, 16, 16)
        assert isinstance(batch["path"], list) and isinstance(batch["path"][0], str)
        seen |= set(batch["path"])
    assert seen == expected  # one epoch: every listed image once, the unlisted one never

    assert module.val_loader_names == ["val/a", "val/b"]
    loaders = module.val_dataloader()
    assert len(loaders) == 2
    batch_a, batch_b = next(iter(loaders[0])), next(iter(loaders[1]))
    assert batch_a["lq"].shape == (3, 3, 24, 24)
    assert torch.equal(batch_a["gt"], batch_b["gt"])  # the same images, darkened two ways
    assert not torch.equal(batch_a["lq"], batch_b["lq"])
    assert batch_a["path"] == list(map(str, coco_image_paths(sources["coco_val"])))


def test_samples_per_epoch_and_max_val_images(sources: dict[str, Path]) -> None:
    module = make_module(sources, samples_per_epoch=20, max_val_images=2, val_protocol_b=False)
    module.setup("fit")
    assert len(module.train_dataloader()) == math.ceil(20 / 3)
    assert module.val_loader_names == ["val/a"]
    (loader,) = module.val_dataloader()
    assert len(loader.dataset) == 2


def test_ranks_share_each_epoch_and_each_validation_set(sources: dict[str, Path]) -> None:
    """Two ranks (a trainer's world size and rank): the 7 photos' epoch is rounded up to 8, the
    ranks' training items are disjoint and make the whole epoch, validation images are split
    without repeats."""
    from types import SimpleNamespace

    shares, val_shares = [], []
    for rank in range(2):
        module = make_module(sources, batch_size=2)
        module.trainer = SimpleNamespace(world_size=2, global_rank=rank)  # type: ignore[assignment]
        module.setup("fit")
        assert module.train_dataset is not None and len(module.train_dataset) == 8  # 4 + 3 photos, rounded up
        loader = module.train_dataloader()
        loader.sampler.set_epoch(1)
        assert len(loader) == 2
        shares.append(list(loader.sampler))
        val_shares.append([index for batch in module.val_dataloader()[0] for index in batch["index"].tolist()])
    assert set(shares[0]).isdisjoint(shares[1]) and sorted(shares[0] + shares[1]) == [(1, i) for i in range(8)]
    assert val_shares == [[0, 2], [1]]

    module = make_module(sources)
    module.trainer = SimpleNamespace(world_size=4, global_rank=0)  # type: ignore[assignment]
    with pytest.raises(ValueError, match="val/a: 3 validation image"):
        module.val_dataloader()


def test_validate_stage_needs_no_training_source(sources: dict[str, Path]) -> None:
    module = LowLightDataModule(coco_val=[sources["coco_val"]], val_size=16)
    module.setup("validate")
    assert module.train_dataset is None and len(module.val_dataloader()) == 2
    gammas = [module.val_datasets[0].gamma(i) for i in range(3)]
    assert gammas == pytest.approx(VAL_GAMMAS_A[:3].tolist())


def test_no_validation_source_gives_no_loader(sources: dict[str, Path]) -> None:
    module = LowLightDataModule(train_dirs=[sources["train_dir"]], crop_size=8)
    module.setup("fit")
    assert module.val_loader_names == [] and module.val_dataloader() == []


def test_empty_sources_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"training images in coco_train=\[\], train_dirs=.*empty"):
        LowLightDataModule(train_dirs=[tmp_path / "empty"]).setup("fit")
    with pytest.raises(ValueError, match=r"no training images"):
        LowLightDataModule().setup("fit")
    with pytest.raises(ValueError, match=r"validation images in coco_val=\[\], val_dirs=.*empty"):
        LowLightDataModule(val_dirs=[tmp_path / "empty"]).setup("validate")
    with pytest.raises(FileNotFoundError, match="missing"):
        LowLightDataModule(train_dirs=[tmp_path / "missing"]).setup("fit")
    with pytest.raises(ValueError, match="batch_size must be > 0, got 0"):
        LowLightDataModule(batch_size=0)


def test_same_seed_same_batches(sources: dict[str, Path]) -> None:
    first, second = make_module(sources, seed=5), make_module(sources, seed=5)
    for module in (first, second):
        module.setup("fit")
    batch_1, batch_2 = next(iter(first.train_dataloader())), next(iter(second.train_dataloader()))
    assert batch_1["path"] == batch_2["path"] and torch.equal(batch_1["lq"], batch_2["lq"])
    third = make_module(sources, seed=6)
    third.setup("fit")
    assert not torch.equal(next(iter(third.train_dataloader()))["lq"], batch_1["lq"])


def test_workers_give_the_same_batches(sources: dict[str, Path]) -> None:
    in_process, with_workers = make_module(sources), make_module(sources, num_workers=2)
    batches = []
    for module in (in_process, with_workers):
        module.setup("fit")
        batches.append(list(module.train_dataloader()))
    for batch_0, batch_2 in zip(*batches, strict=True):
        assert batch_0["path"] == batch_2["path"] and torch.equal(batch_0["lq"], batch_2["lq"])


def test_bad_files_counted_across_workers(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write_images(folder, 3, size=(24, 24))
    bad = write_bad_images(folder)
    module = LowLightDataModule(train_dirs=[folder], val_dirs=[folder], crop_size=8,
                                batch_size=2, num_workers=2, val_size=8)
    module.setup("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warnings are emitted in the worker processes
        batches = list(module.train_dataloader())
        val_paths = [p for loader in module.val_dataloader() for b in loader for p in b["path"]]
    assert sum(len(b["path"]) for b in batches) == 6
    assert not {Path(p) for b in batches for p in b["path"]} & set(bad)
    assert not set(map(Path, val_paths)) & set(bad)
    assert module.skipped_files == 3 + 3  # seen by workers, counted in this process


class RecordingModule(L.LightningModule):
    """Trains one weight and records what each batch held."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.train_batches: list[tuple[int, list[str], torch.Tensor]] = []
        self.val_batches: list[tuple[int, list[str]]] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.train_batches.append((self.current_epoch, batch["path"], batch["lq"].clone()))
        return ((batch["lq"] * self.weight - batch["gt"]) ** 2).mean()

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.val_batches.append((dataloader_idx, batch["path"]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_trainer_sets_the_epoch_of_training_items(sources: dict[str, Path], tmp_path: Path) -> None:
    module = make_module(sources, samples_per_epoch=6, max_val_images=2)
    model = RecordingModule()
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, default_root_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice about worker counts
        trainer.fit(model, datamodule=module)
    assert [epoch for epoch, _, _ in model.train_batches] == [0, 0, 1, 1]
    dataset = module.train_dataset
    assert dataset is not None
    for position, (epoch, paths, lq) in enumerate(model.train_batches):
        start = (position % 2) * 3
        expected = [dataset[(epoch, start + i)] for i in range(3)]
        assert paths == [item["path"] for item in expected]
        assert torch.equal(lq, torch.stack([item["lq"] for item in expected]))
    assert not torch.equal(model.train_batches[0][2], model.train_batches[2][2])
    assert sorted({index for index, _ in model.val_batches}) == [0, 1]


def test_jsonargparse_builds_the_module_from_yaml(sources: dict[str, Path]) -> None:
    parser = ArgumentParser()
    parser.add_class_arguments(LowLightDataModule, "data")
    config = parser.parse_string(f"""
data:
  coco_train: [{sources["coco_train"]}]
  train_dirs: [{sources["train_dir"]}]
  crop_size: 16
  samples_per_epoch: 10
  darkening:
    gamma_range: [2.5, 5.0]
    light:
      ambient_range: [0.1, 0.2]
""")
    module = parser.instantiate(config).data
    assert isinstance(module, LowLightDataModule)
    assert module.coco_train == [sources["coco_train"]] and module.samples_per_epoch == 10
    assert module.darkening.gamma_range == (2.5, 5.0)
    assert module.darkening.light.ambient_range == (0.1, 0.2)
    assert module.darkening.noise_prob == DarkeningConfig().noise_prob  # untouched default
    module.setup("fit")
    assert next(iter(module.train_dataloader()))["gt"].shape == (8, 3, 16, 16)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Lightning's own jsonargparse calls
def test_lightning_cli_accepts_the_module(
    sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["train.py"])  # pytest's own arguments are not for the CLI
    cli = LightningCLI(
        RecordingModule,
        LowLightDataModule,
        run=False,
        save_config_callback=None,
        seed_everything_default=0,
        args={
            "trainer": {"logger": False, "default_root_dir": str(tmp_path)},
            "data": {"train_dirs": [str(sources["train_dir"])], "batch_size": 2,
                     "darkening": {"bright_prob": 0.25}},
        },
    )
    assert isinstance(cli.datamodule, LowLightDataModule)
    assert cli.datamodule.batch_size == 2 and cli.datamodule.darkening.bright_prob == 0.25
    assert cli.datamodule.train_dirs == [sources["train_dir"]]


def test_real_coco_mini(tmp_path: Path) -> None:
    train_json = shared_path("data/coco-mini/annotations/instances_train2017.json")
    val_json = shared_path("data/coco-mini/annotations/instances_val2017.json")
    module = LowLightDataModule(coco_train=[train_json], coco_val=[val_json], crop_size=64,
                                batch_size=2, max_val_images=2)
    module.setup("fit")
    assert module.train_dataset is not None and len(module.train_dataset) == 80
    batch = next(iter(module.train_dataloader()))
    assert batch["lq"].shape == (2, 3, 64, 64) and float(batch["lq"].max()) <= 1.0
    val_batch = next(iter(module.val_dataloader()[0]))
    assert val_batch["gt"].shape == (2, 3, 256, 256)
    assert module.skipped_files == 0
