from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from lowlight.evaluation.images import load_ground_truth
from lowlight.protocols import (
    GAMMAS_A,
    GAMMAS_B,
    darken_a,
    darken_b,
    darken_b_with_light,
    invert_darkening,
    protocol_versions,
    spread_versions,
)
from tests.conftest import shared_path


def _random_gt(seed: int, size: tuple[int, int] = (32, 40)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (*size, 3))


def test_gammas_are_the_protocols() -> None:
    np.testing.assert_array_equal(GAMMAS_A, np.linspace(2.0, 6.0, 25))
    np.testing.assert_array_equal(GAMMAS_B, np.linspace(1.5, 4.0, 10))


def test_darken_a_matches_closed_form() -> None:
    gt = np.random.default_rng(0).uniform(0, 1, (2, 3, 8, 9))
    for gamma in (2.0, 3.5, 6.0):
        expected = np.round(gt**gamma * 255) / 255
        got = darken_a(torch.from_numpy(gt), gamma)
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-7)


def test_darken_a_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\), got \(3, 8, 8\)"):
        darken_a(torch.rand(3, 8, 8), 2.0)


def test_spread_versions() -> None:
    assert spread_versions("a", None) == list(range(25))
    assert spread_versions("a", 3) == [0, 12, 24]
    assert spread_versions("b", 1) == [5]
    assert spread_versions("b", 50) == list(range(10))
    with pytest.raises(ValueError, match="protocol must be 'a' or 'b', got 'c'"):
        spread_versions("c", None)  # type: ignore[arg-type]


def test_protocol_versions_contexts() -> None:
    gt = torch.rand(1, 3, 16, 16)
    versions = protocol_versions("a", gt, 4, "x.png", [0, 24])
    assert [v.context.version for v in versions] == [0, 24, None]
    assert [v.context.gamma for v in versions] == [2.0, 6.0, 1.0]
    assert versions[-1].is_bright and torch.equal(versions[-1].image, gt)
    assert all(v.context.image_index == 4 and v.context.light is None for v in versions)
    b_versions = protocol_versions("b", gt, 4, "x.png", [3], include_bright=False)
    assert len(b_versions) == 1 and b_versions[0].context.light.shape == (1, 1, 16, 16)


def test_oracle_a_inverts_unquantised_darkening() -> None:
    gt = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    np.testing.assert_allclose(invert_darkening(gt**3.0, 3.0).numpy(), gt.numpy(), atol=1e-12)


def test_oracle_b_inverts_noise_free_darkening() -> None:
    gt = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    light = torch.rand(1, 1, 8, 8, dtype=torch.float64) * 0.9 + 0.1
    restored = invert_darkening(gt**2.5 * light, 2.5, light)
    np.testing.assert_allclose(restored.numpy(), gt.numpy(), atol=1e-12)


def test_invert_darkening_gradcheck() -> None:
    dark = (torch.rand(1, 3, 4, 4, dtype=torch.float64) * 0.5 + 0.2).requires_grad_()
    light = torch.full((1, 1, 4, 4), 0.9, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda d: invert_darkening(d, 2.5, light), (dark,))


def test_darken_b_rejects_bad_version() -> None:
    with pytest.raises(ValueError, match="version must be in \\[0, 9\\], got 10"):
        darken_b(_random_gt(0), 0, 10)


@pytest.mark.parametrize(("image_index", "version"), [(0, 0), (3, 4), (17, 9)])
def test_darken_b_is_bit_identical_to_shared(
    protocol_b_reference: ModuleType, image_index: int, version: int
) -> None:
    gt = _random_gt(image_index)
    expected = protocol_b_reference.darken_b(gt, image_index, version)
    got = darken_b(gt, image_index, version)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_darken_b_on_a_coco_image_is_bit_identical(protocol_b_reference: ModuleType) -> None:
    """The evaluated form: a float32 256 x 256 ground truth from a real photo."""
    photo = shared_path("data/coco-mini/val2017/000000000139.jpg")
    gt = load_ground_truth(photo)  # (1, 3, 256, 256)
    gt_hwc = gt[0].permute(1, 2, 0).numpy()
    for version in (1, 8):
        expected = protocol_b_reference.darken_b(gt_hwc, 5, version)
        dark = protocol_versions("b", gt, 5, photo.name, [version], include_bright=False)[0]
        got = torch.round(dark.image[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(got, expected)


def test_oracle_b_matches_shared(protocol_b_reference: ModuleType) -> None:
    gt = _random_gt(2)
    for version in (0, 6):
        dark, light = darken_b_with_light(gt, 2, version)
        expected = protocol_b_reference.oracle_b(dark, gt.shape, 2, version)  # (H, W, 3) float64
        dark_t = torch.from_numpy(dark).permute(2, 0, 1)[None].double() / 255
        light_t = torch.from_numpy(light)[None, None]
        got = invert_darkening(dark_t, float(GAMMAS_B[version]), light_t)
        np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), expected, atol=1e-12)
        # The runner's float32 inputs give the same inverse up to float32 rounding.
        got32 = invert_darkening(dark_t.float(), float(GAMMAS_B[version]), light_t)
        np.testing.assert_allclose(got32[0].permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_coco_mini_dark_row_calibration() -> None:
    """PROTOCOL.md: the un-enhanced PSNR on COCO val is about 10.4 dB (checked on 3 images)."""
    json_path = shared_path("data/coco-mini/annotations/instances_val2017.json")
    from lowlight.evaluation.images import image_set_paths

    psnrs = []
    for path in image_set_paths(Path(json_path), max_images=3):
        gt = load_ground_truth(path).double()
        for gamma in GAMMAS_A[::6]:
            mse = ((darken_a(gt, float(gamma)).double() - gt) ** 2).mean()
            psnrs.append(float(-10 * torch.log10(mse)))
    assert 7.0 < np.mean(psnrs) < 14.0
