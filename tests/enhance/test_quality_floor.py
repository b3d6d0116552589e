"""End-to-end quality floor of the shipped CM enhancer, set where auto-gamma cannot reach it.

scikit-image's bundled photos (no data download), protocol A's darkening (gamma, 8 bits) at gammas
3 and 5. Measured when written: auto-gamma 18.2 dB mean, CM (k = 30) 24.0 dB. The floor (CM at
least 3 dB above auto-gamma and at least 22 dB) fails for a CM that is no better than auto-gamma,
so a regression of a few dB shows, unlike a floor relative to the dark input.
"""

from __future__ import annotations

import torch

from lowlight.baselines.classic import auto_gamma
from lowlight.cli.demo import demo_images
from lowlight.data.darken import gamma_darken, quantize_8bit
from lowlight.enhance.enhancer import Enhancer, EnhancerConfig
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.metrics.quality import psnr_per_image

GAMMAS = (3.0, 5.0)


def psnr(enhanced: torch.Tensor, truth: torch.Tensor) -> float:
    """(3, H, W) pair -> PSNR in dB."""
    return float(psnr_per_image(enhanced[None], truth[None]))
MARGIN_DB = 3.0
FLOOR_DB = 22.0


def test_cm_beats_auto_gamma_by_a_margin() -> None:
    enhancer = Enhancer.from_checkpoint(EnhancerConfig(mode="cm", gp=GPOptions(k=30)))
    cm, reference = [], []
    for _, _, truth in demo_images():
        for gamma in GAMMAS:
            dark = quantize_8bit(gamma_darken(truth[None], gamma))
            with torch.inference_mode():
                cm.append(psnr(enhancer(dark).image[0], truth))
            reference.append(psnr(auto_gamma(dark)[0], truth))
    cm_mean, reference_mean = sum(cm) / len(cm), sum(reference) / len(reference)
    assert reference_mean < FLOOR_DB - MARGIN_DB / 2  # the floor is out of auto-gamma's reach
    assert cm_mean >= FLOOR_DB, f"CM {cm_mean:.2f} dB < {FLOOR_DB} dB (auto-gamma {reference_mean:.2f} dB)"
    assert cm_mean >= reference_mean + MARGIN_DB, f"CM {cm_mean:.2f} dB vs auto-gamma {reference_mean:.2f} dB"
