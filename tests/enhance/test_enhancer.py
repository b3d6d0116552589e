"""The enhancer on real photos (scikit-image's bundled ones) with the shipped checkpoints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lowlight.archs import CurveNet, GPECNN
from lowlight.enhance.checkpoints import save_reference_cnn
from lowlight.cli.demo import demo_images
from lowlight.ops.color import rgb_to_ycbcr
from lowlight.data.darken import gamma_darken, quantize_8bit
from lowlight.enhance.enhancer import SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig
from lowlight.metrics.quality import psnr_per_image
from lowlight.ops.gates import exposure_weight
from lowlight.ops.gates import noise_weight
from lowlight.enhance.clustered_gp import GPOptions


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    name, _, gt = demo_images(size=96)[0]
    return gt[None]  # (1, 3, 96, 96)


@pytest.mark.parametrize("mode", ["cm", "lm"])
def test_shipped_enhancer_raises_psnr_of_a_darkened_photo(photo: torch.Tensor, mode: str) -> None:
    dark = quantize_8bit(gamma_darken(photo, 3.0))
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(mode=mode, gp=GPOptions(k=20)))  # type: ignore[arg-type]
    with torch.inference_mode():
        result = enhancer(dark, return_std=True)
    assert result.image.shape == photo.shape and result.std is not None
    assert result.std.shape == (1, 1, 96, 96)
    assert psnr_per_image(result.image[:1], photo[:1]) > psnr_per_image(dark[:1], photo[:1]) + 5


def test_lm_colour_modes(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    dark = quantize_8bit(gamma_darken(photo, 3.0))
    carry = Enhancer(GPECNN(), EnhancerConfig(mode="lm", lm_colour="carry", use_gp=False))(dark).image
    ratio = Enhancer(GPECNN(), EnhancerConfig(mode="lm", lm_colour="ratio", use_gp=False))(dark).image
    # carry keeps the input's chroma exactly; ratio scales chroma offsets with the luma gain
    torch.testing.assert_close(rgb_to_ycbcr(carry)[:, 1:], rgb_to_ycbcr(dark)[:, 1:], atol=2e-2, rtol=0)
    chroma = lambda x: (rgb_to_ycbcr(x)[:, 1:] - 0.5).abs().mean()  # noqa: E731
    assert chroma(ratio) > chroma(carry)


def test_mode_must_fit_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "y.safetensors"
    save_reference_cnn(GPECNN(), path, "y")
    with pytest.raises(ValueError, match="holds a 'y' CNN, which does not fit mode 'cm'"):
        Enhancer.from_checkpoint(EnhancerConfig(mode="cm"), path)
    with pytest.raises(ValueError, match="mode 'lm' needs a 1-channel CNN, got CurveNet with 3 channels"):
        Enhancer(CurveNet(), EnhancerConfig(mode="lm"))
    with pytest.raises(ValueError, match="mode must be 'cm' or 'lm', got 'rgb'"):
        EnhancerConfig(mode="rgb")  # type: ignore[arg-type]


def test_exposure_gate_leaves_well_exposed_photos_alone(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    enhancer = Enhancer(CurveNet(), EnhancerConfig(gp=GPOptions(k=8)))
    bright = torch.full((1, 3, 16, 16), 0.6)
    dark = torch.full((1, 3, 16, 16), 0.05)
    assert torch.equal(enhancer(bright).image, bright)
    ungated = Enhancer(CurveNet(), EnhancerConfig(gp=GPOptions(k=8), exposure_gate=None))
    with pytest.warns(UserWarning, match="distinct"):
        torch.testing.assert_close(enhancer(dark).image, ungated(dark).image)
    assert exposure_weight(torch.full((2, 3, 4, 4), 0.35), 0.3, 0.4).flatten().tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match=r"exposure_gate must be \(low, high\)"):
        EnhancerConfig(exposure_gate=(0.5, 0.4))


@pytest.mark.parametrize("mode", ["cm", "lm"])
def test_noise_gate_skips_the_gp_on_clean_input_and_keeps_it_on_noisy(photo: torch.Tensor, mode: str) -> None:
    dark = quantize_8bit(gamma_darken(photo, 3.0))
    g = torch.Generator().manual_seed(0)
    noisy = quantize_8bit((dark + 0.03 * torch.randn(dark.shape, generator=g)).clamp(0, 1))
    batch = torch.cat([dark, noisy])  # (2, 3, 96, 96)
    gate = (0.003, 0.006)
    base = EnhancerConfig(mode=mode, gp=GPOptions(k=12), exposure_gate=None)  # type: ignore[arg-type]
    gated = Enhancer.from_checkpoint(replace(base, noise_gate=gate))
    with torch.inference_mode():
        weights = noise_weight(batch, *gate).flatten().tolist()
        assert weights == [0.0, 1.0]
        out = gated(batch, return_std=True)
        cnn_alone = Enhancer(gated.net, replace(base, use_gp=False))(batch).image
        gp_always = Enhancer(gated.net, base, learned_gp=gated.learned_gp)(batch).image
    torch.testing.assert_close(out.image[0], cnn_alone[0])  # clean: the CNN's reference
    torch.testing.assert_close(out.image[1], gp_always[1])  # noisy: the GP's output
    assert out.std is not None and float(out.std[0].abs().max()) == 0.0 and float(out.std[1].max()) > 0
    with pytest.raises(ValueError, match="noise_gate must be \\(low, high\\)"):
        EnhancerConfig(noise_gate=(0.01, 0.001))


def test_noise_gate_keeps_the_gp_on_images_too_small_to_measure_noise() -> None:
    torch.manual_seed(0)
    net = CurveNet(width=8, refine_width=4)
    tiny = torch.rand(1, 3, 2, 5) ** 3  # no 3 x 3 residual to read a noise sigma from
    config = EnhancerConfig(gp=GPOptions(k=4), exposure_gate=None)
    with torch.inference_mode():
        gated = Enhancer(net, replace(config, noise_gate=SUGGESTED_NOISE_GATE))(tiny, return_std=True)
        gp_always = Enhancer(net, config)(tiny)
    assert torch.equal(gated.image, gp_always.image) and gated.std is not None and float(gated.std.max()) > 0
