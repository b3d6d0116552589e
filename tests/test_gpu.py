"""The GPU paths of bulk enhancement and DDP training (skipped without CUDA).

Run on a machine with a GPU: ``uv run pytest tests/test_gpu.py``. Checked: ``infer.py
--accelerator gpu`` in one process, the ``Trainer.predict`` path on one GPU, and the same as one
rank of DDP over NCCL (its plan broadcast and its all-reduce of the counts), all byte for byte
alike; and one epoch of end-to-end training as one DDP rank over NCCL (the synced validation
metrics, the all-ranks decision about non-finite steps, the validation indices on the GPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from lowlight.archs import CurveNet
from lowlight.bench.gpu import GPUBenchOptions, gpu_throughput
from lowlight.cli.infer import InferOptions, main, run_distributed
from lowlight.data.datamodule import LowLightDataModule
from lowlight.enhance.checkpoints import save_reference_cnn
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.train.e2e_module import EndToEndModule
from tests.images import write_images

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture()
def _no_process_group_left() -> Iterator[None]:
    yield
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def test_bulk_enhancement_on_one_gpu(tmp_path: Path, _no_process_group_left: None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "rgb.safetensors"
    save_reference_cnn(CurveNet(), ckpt, "rgb")
    folder = tmp_path / "in"
    write_images(folder, 5, size=(48, 64))
    (folder / "broken.png").write_bytes(b"not an image")
    common = {"inputs": [str(folder)], "checkpoint": ckpt, "k": 8, "uncertainty": True, "batch_size": 2,
              "accelerator": "gpu"}
    assert main([str(folder), "-o", str(tmp_path / "one"), "--checkpoint", str(ckpt), "--k", "8", "--uncertainty",
                 "--batch-size", "2", "--accelerator", "gpu"]) == 1
    assert run_distributed(InferOptions(output=tmp_path / "predict", devices=1, **common)) == 1
    assert run_distributed(InferOptions(output=tmp_path / "nccl", devices=1, strategy="ddp", **common)) == 1
    assert capsys.readouterr().out.count("enhanced 5 image(s)") == 3
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert len(names) == 10
    differing = []
    for other in ("predict", "nccl"):
        assert sorted(p.name for p in (tmp_path / other).iterdir()) == names
        differing += [_pixel_difference(tmp_path / "one" / name, tmp_path / other / name)
                      for name in names
                      if (tmp_path / other / name).read_bytes() != (tmp_path / "one" / name).read_bytes()]
    # the message says how far apart (a rounding-level change reads as 1 level in a few pixels)
    assert not differing, "outputs differ from the in-process run:\n" + "\n".join(differing)


def test_enhancement_gives_the_same_bits_on_every_cuda_run() -> None:
    """Run-to-run determinism under default CUDA settings, the ground of the byte identity above
    (CUDA's atomic index_add once summed the cluster means in a different order each run)."""
    torch.manual_seed(0)
    enhancer = Enhancer(CurveNet(), EnhancerConfig(gp=GPOptions(k=8))).to("cuda")
    images = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(1)).cuda() * 0.3
    with torch.inference_mode():
        first = enhancer(images, return_std=True)
        for _ in range(3):
            again = enhancer(images, return_std=True)
            assert torch.equal(again.image, first.image) and torch.equal(again.std, first.std)


def test_gpu_bench_measures_every_cell() -> None:
    rows = gpu_throughput(GPUBenchOptions(sizes=((64, 96),), batches=(1, 2), calls=2))
    assert [(r["gp_resolution"], r["batch"]) for r in rows] == [("working", 1), ("working", 2), ("full", 1), ("full", 2)]
    assert all(r["seconds"] > 0 and r["fps"] > 0 and r["peak_gib"] > 0 for r in rows)


def _pixel_difference(expected: Path, actual: Path) -> str:
    """One line: the file, the largest 8-bit difference and the share of differing values."""
    a = torch.from_numpy(np.array(Image.open(expected))).int()
    b = torch.from_numpy(np.array(Image.open(actual))).int()
    if a.shape != b.shape:
        return f"{actual.parent.name}/{actual.name}: shape {tuple(b.shape)} vs {tuple(a.shape)}"
    diff = (a - b).abs()
    return (f"{actual.parent.name}/{actual.name}: max {int(diff.max())} levels, "
            f"{float((diff > 0).float().mean()):.2%} of the values differ")


def test_end_to_end_training_as_one_ddp_rank_on_the_gpu(tmp_path: Path, _no_process_group_left: None) -> None:
    write_images(tmp_path / "train", 8, size=(40, 48))
    write_images(tmp_path / "val", 3, size=(40, 48), seed=3)
    data = LowLightDataModule(train_dirs=[tmp_path / "train"], val_dirs=[tmp_path / "val"], crop_size=32,
                              val_size=32, batch_size=2)
    module = EndToEndModule(mode="cm", net=CurveNet(thumbnail=16, width=8, refine_width=8), k_train=4,
                            sift_images=2, k_sweep=())
    trainer = L.Trainer(accelerator="gpu", devices=1, strategy="ddp", max_epochs=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 4
    metrics = trainer.callback_metrics
    for key in ("val/psnr", "val/ssim", "val/loss", "val/sift_f1", "val_b/psnr"):
        assert torch.isfinite(metrics[key]), key
