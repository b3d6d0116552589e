from __future__ import annotations

import pytest
import torch

from lowlight.archs import GPECNN


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (17, 17), (64, 48), (33, 65)])
def test_output_size_equals_input_size(size: tuple[int, int]) -> None:
    y = torch.rand(2, 1, *size)
    out = GPECNN()(y)
    assert out.shape == y.shape
    assert out.dtype == torch.float32
    assert ((out > 0) & (out < 1)).all()  # sigmoid output


def test_architecture_matches_notes() -> None:
    net = GPECNN()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == {
        "conv1.weight": (64, 1, 9, 9), "conv1.bias": (64,),
        "conv2.weight": (32, 64, 1, 1), "conv2.bias": (32,),
        "conv3.weight": (16, 32, 5, 5), "conv3.bias": (16,),
        "conv4.weight": (1, 16, 5, 5), "conv4.bias": (1,),
    }
    assert sum(p.numel() for p in net.parameters()) == 20545


def test_valid_convolutions_shrink_by_border() -> None:
    net = GPECNN()
    x = torch.rand(1, 1, 40, 40)
    # Without the padding the valid stack loses 8 pixels per side.
    h = net.conv4(net.conv3(net.conv2(net.conv1(x).relu()).relu()).sigmoid())
    assert h.shape[-2:] == (40 - 2 * GPECNN.border, 40 - 2 * GPECNN.border)


def test_rejects_rgb_input() -> None:
    with pytest.raises(ValueError, match=r"expected \(B, 1, H, W\), got \(1, 3, 8, 8\)"):
        GPECNN()(torch.rand(1, 3, 8, 8))
