from __future__ import annotations

import numpy as np
import pytest
import torch

from lowlight.ops.patches import centre_index, extract_patches, gather_patches


def _numpy_patches(x: np.ndarray, p: int, q: int) -> np.ndarray:
    """Reference: (C, H, W) -> (C, H*W, p*q) with numpy's reflect padding."""
    c, h, w = x.shape
    pad = ((0, 0), ((p - 1) // 2, p // 2), ((q - 1) // 2, q // 2))
    xp = np.pad(x, pad, mode="reflect")
    out = np.empty((c, h * w, p * q))
    for i in range(h):
        for j in range(w):
            out[:, i * w + j] = xp[:, i : i + p, j : j + q].reshape(c, -1)
    return out


@pytest.mark.parametrize(("p", "q"), [(3, 3), (5, 5), (1, 1), (2, 3), (3, 4)])
def test_extract_matches_numpy_reflect(p: int, q: int) -> None:
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    got = extract_patches(x, (p, q))
    assert got.shape == (2, 3, 63, p * q)
    for b in range(2):
        np.testing.assert_array_equal(got[b].numpy(), _numpy_patches(x[b].numpy(), p, q))


def test_centre_index_picks_the_pixel_itself() -> None:
    x = torch.rand(1, 2, 6, 5)
    for size in [(3, 3), (5, 3), (1, 1), (4, 4)]:
        patches = extract_patches(x, size)
        assert torch.equal(patches[..., centre_index(size)], x.flatten(2))


def test_tiny_images_fall_back_to_replication() -> None:
    x = torch.rand(1, 1, 1, 1)
    patches = extract_patches(x, (3, 3))
    assert torch.equal(patches, x.expand(1, 1, 1, 1).reshape(1, 1, 1, 1).expand(1, 1, 1, 9))


def test_gather_equals_extract() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 11, 8, generator=g)
    index = torch.randint(0, 88, (2, 17), generator=g)
    full = extract_patches(x, (3, 5))
    picked = gather_patches(x, index, (3, 5))
    for b in range(2):
        assert torch.equal(picked[b], full[b][:, index[b]])


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="patch size must be >= 1 x 1, got 0 x 3"):
        extract_patches(torch.rand(1, 1, 4, 4), (0, 3))
    with pytest.raises(ValueError, match=r"expected \(B, C, H, W\), got \(4, 4\)"):
        extract_patches(torch.rand(4, 4), (3, 3))
    with pytest.raises(ValueError, match=r"index: expected \(B=1, n\), got \(5,\)"):
        gather_patches(torch.rand(1, 1, 4, 4), torch.zeros(5, dtype=torch.long))
