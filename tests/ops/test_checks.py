"""The shared argument checks: their messages name the argument and the shape."""

from __future__ import annotations

import pytest
import torch

from lowlight.ops.checks import check_image, check_positive, check_single_image


def test_check_image_accepts_and_refuses() -> None:
    check_image(torch.zeros(2, 3, 4, 5), 3)
    check_image(torch.zeros(1, 1, 4, 5), (1, 3))
    with pytest.raises(ValueError, match=r"lq: expected \(B, 1\|3, H, W\), got \(3, 4, 5\)"):
        check_image(torch.zeros(3, 4, 5), (1, 3), "lq")
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\), got \(1, 2, 4, 5\)"):
        check_image(torch.zeros(1, 2, 4, 5), 3)
    with pytest.raises(TypeError, match="floating tensor, got torch.uint8"):
        check_image(torch.zeros(1, 3, 4, 5, dtype=torch.uint8))


def test_check_single_image_accepts_and_refuses() -> None:
    check_single_image(torch.zeros(3, 4, 5), 3)
    check_single_image(torch.zeros(2, 4, 5, dtype=torch.uint8))  # any C, any dtype
    with pytest.raises(ValueError, match=r"frame: expected \(3, H, W\), got \(1, 3, 4, 5\)"):
        check_single_image(torch.zeros(1, 3, 4, 5), 3, "frame")
    with pytest.raises(ValueError, match=r"image: expected \(1\|3, H, W\), got \(2, 4, 5\)"):
        check_single_image(torch.zeros(2, 4, 5), (1, 3))


def test_check_positive_names_the_value() -> None:
    check_positive(0.5, "sigma")
    with pytest.raises(ValueError, match="sigma must be > 0, got 0"):
        check_positive(0, "sigma")
    with pytest.raises(ValueError, match="sigma must be > 0, got nan"):
        check_positive(float("nan"), "sigma")
