"""Working sizes and the antialiased resize."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lowlight.ops.resize import long_side_size, resize_image


@pytest.mark.parametrize(
    ("height", "width", "side", "expected"),
    [(2160, 3840, 512, (288, 512)), (4000, 6000, 512, (341, 512)), (6000, 4000, 512, (512, 341)),
     (256, 256, 512, (256, 256)), (600, 800, 0, (600, 800)), (1, 5000, 100, (1, 100)), (512, 300, 512, (512, 300))],
)
def test_long_side_size(height: int, width: int, side: int, expected: tuple[int, int]) -> None:
    assert long_side_size(height, width, side) == expected


def test_long_side_size_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match="long_side must be >= 0, got -1"):
        long_side_size(10, 10, -1)
    with pytest.raises(ValueError, match="got 0 x 10"):
        long_side_size(0, 10, 5)


def test_resize_image_averages_when_shrinking_and_is_identity_at_same_size() -> None:
    x = torch.rand(2, 3, 40, 60, generator=torch.Generator().manual_seed(0))
    assert resize_image(x, (40, 60)) is x
    small = resize_image(x, (10, 15))
    assert small.shape == (2, 3, 10, 15) and small.dtype == x.dtype
    assert float(small.min()) >= 0 and float(small.max()) <= 1
    plain = F.interpolate(x, size=(10, 15), mode="bilinear", align_corners=False)
    # iid noise of std 0.29: plain bilinear samples about 4 pixels, the antialiased one averages ~64
    assert float(small.std()) < 0.06 < 0.1 < float(plain.std())
    torch.testing.assert_close(small.mean(), x.mean(), rtol=0, atol=0.01)


def test_resize_image_enlarges_with_the_plain_bilinear_kernel() -> None:
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(1))
    big = resize_image(x, (20, 31))
    torch.testing.assert_close(big, F.interpolate(x, size=(20, 31), mode="bilinear", align_corners=False),
                               rtol=0, atol=0)
    antialiased = F.interpolate(x, size=(20, 31), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(big, antialiased, rtol=0, atol=1e-5)  # the kernels agree when enlarging


def test_resize_image_shrinks_one_side_with_the_antialiased_kernel() -> None:
    x = torch.rand(1, 1, 8, 64, generator=torch.Generator().manual_seed(2))
    out = resize_image(x, (16, 16))  # taller, narrower: the width still needs the low-pass
    reference = F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
