"""The output does not depend on --batch-size: batched and single enhancement give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lowlight.cli.infer import main
from tests.images import structured_image


@pytest.mark.parametrize("extra", [["--mode", "cm"], ["--mode", "lm"], ["--mode", "cm", "--noise-gate"]])
def test_batch_of_four_equals_four_batches_of_one(tmp_path: Path, extra: list[str]) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        size = (64, 96) if i < 4 else (48, 40)  # four of one size (one batch), one alone
        picture = (structured_image(*size, seed=i) / 255.0) ** (2 + i % 3)
        noisy = picture + (rng.normal(0, 0.01, picture.shape) if i % 2 else 0)  # the noise gate differs per image
        Image.fromarray((np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)).save(inputs / f"img{i}.png")
    outputs = {}
    for batch in (1, 4):
        out = tmp_path / f"b{batch}"
        assert main([str(inputs), "-o", str(out), "--k", "12", "--uncertainty", "--batch-size", str(batch), *extra]) == 0
        outputs[batch] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert len(outputs[1]) == 10
    assert outputs[4] == outputs[1]
