"""The protocol's 256 x 256 resize is antialiased: checked against Pillow's resize, an independent one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from lowlight.evaluation.images import load_ground_truth


def _stripes(height: int, width: int) -> np.ndarray:
    """Fine detail that aliases when downsampled without a low-pass: 1-pixel stripes and a checkerboard."""
    yy, xx = np.mgrid[0:height, 0:width]
    gray = np.where((xx // 1 + yy // 2) % 2 == 0, 230, 20).astype(np.uint8)
    gray[: height // 2] = np.where(xx[: height // 2] % 3 == 0, 250, 10)
    return np.repeat(gray[..., None], 3, axis=2)


def test_ground_truth_resize_matches_pillows_antialiased_bilinear(tmp_path: Path) -> None:
    array = _stripes(1000, 1200)
    path = tmp_path / "stripes.png"
    Image.fromarray(array).save(path)
    ours = load_ground_truth(path)[0, 0].numpy()  # (256, 256)
    # Pillow's BILINEAR widens its filter by the scale factor: an antialiased reference, in float
    pillow = np.asarray(Image.fromarray(array[..., 0].astype(np.float32) / 255.0, mode="F")
                        .resize((256, 256), Image.Resampling.BILINEAR))
    aliased = F.interpolate(torch.from_numpy(array[..., 0] / 255.0)[None, None].float(), size=(256, 256),
                            mode="bilinear", antialias=False, align_corners=False)[0, 0].numpy()
    assert np.abs(aliased - pillow).mean() > 0.1  # the picture tells the two resizes apart
    assert np.abs(ours - pillow).max() < 0.02
    assert np.abs(ours - pillow).mean() < 0.002
