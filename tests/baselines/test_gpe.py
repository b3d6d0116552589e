from __future__ import annotations

import pytest
import torch

from lowlight.archs import GPECNN
from lowlight.baselines.gpe import gpe_enhance, unique_intensity_pairs


def test_one_pair_per_distinct_average_intensity() -> None:
    low = torch.tensor([[0.1, 0.1], [0.3, 0.3], [0.1, 0.1], [0.2, 0.4], [0.9, 0.9]])
    ref = torch.arange(10.0).view(5, 2)
    x, y = unique_intensity_pairs(low, ref, levels=11)
    # averages 0.1, 0.3, 0.1, 0.3, 0.9 -> levels 1, 3, 1, 3, 9: first pixel of each level kept
    assert torch.equal(x, low[[0, 1, 4]]) and torch.equal(y, ref[[0, 1, 4]])


def test_gpe_pipeline_shapes_and_range() -> None:
    torch.manual_seed(0)
    lq = torch.rand(2, 3, 20, 17) ** 3
    out = gpe_enhance(lq, GPECNN().eval(), fit_steps=3)
    assert out.shape == lq.shape and (out >= 0).all() and (out <= 1).all()


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"expected two \(N, d\) tensors"):
        unique_intensity_pairs(torch.rand(4, 9), torch.rand(3, 9))
