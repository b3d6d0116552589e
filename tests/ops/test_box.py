"""Box means against kornia's box_blur and torch's avg_pool2d."""

from __future__ import annotations

import kornia.filters
import pytest
import torch
import torch.nn.functional as F

from lowlight.ops.box import box_mean, box_mean_valid


@pytest.mark.parametrize("border", ["reflect", "replicate"])
@pytest.mark.parametrize("radius", [1, 2, 3])
def test_box_mean_equals_kornia(border: str, radius: int) -> None:
    x = torch.rand(2, 5, 13, 9, generator=torch.Generator().manual_seed(radius), dtype=torch.float64)
    expected = kornia.filters.box_blur(x, 2 * radius + 1, border_type=border)
    torch.testing.assert_close(box_mean(x, radius, border), expected, rtol=0, atol=1e-12)  # type: ignore[arg-type]


def test_valid_means_equal_avg_pool_and_radius_zero_is_the_input() -> None:
    x = torch.rand(1, 2, 7, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for window in (1, 3, 7):
        torch.testing.assert_close(box_mean_valid(x, window), F.avg_pool2d(x, window, 1), rtol=0, atol=1e-12)
    assert box_mean(x, 0) is x
    before = x.clone()
    box_mean(x, 2)
    assert torch.equal(x, before)  # the input is not written


def test_errors() -> None:
    x = torch.rand(1, 1, 4, 6)
    with pytest.raises(ValueError, match=r"window must be in 1..4 for a 4 x 6 input, got 5"):
        box_mean_valid(x, 5)
    with pytest.raises(ValueError, match="radius must be >= 0, got -1"):
        box_mean(x, -1)
