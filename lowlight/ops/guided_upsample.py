"""Bringing a working-resolution reference back to full resolution, guided by the full-size input.

A reference CNN is run on a downscaled copy of a large photo (the working resolution); the GP
that follows needs the reference at every full-resolution pixel. Three ways, measured in the
README (native-resolution evaluation):

- ``"guided"``: a fast guided filter (He & Sun, 2015) in the log domain: on the working copy,
  ``log(ref + eps)`` is fitted as ``A log(lq + eps) + b`` in every window (per channel; the
  slope regularised towards the whole image's slope), the smoothed ``A`` and ``b`` are upsampled
  bilinearly and applied to the full-size input. A curve
  whose coefficients vary slowly over the image (what the reference CNNs learn) is reproduced
  at full resolution, with the full-resolution input's detail. Where the reference is flat
  (its gradient, per full-size pixel, below ``flat_gradient``), the guided result is blended
  towards the bilinear one: there the input's full-size "detail" is mostly sensor noise, which
  the guided filter would carry (and amplify by the slope) into the reference.
- ``"gain"``: the working copy's gain ``(ref + eps) / (lq + eps)``, upsampled, times the input.
- ``"bilinear"``: the reference itself upsampled (no full-resolution detail).

The enhancer also brings the GP's working-resolution output to full size this way
(``EnhancerConfig.gp_resolution="working"``): ``ref_small`` is then that output.
"""

from __future__ import annotations

from typing import Literal

import kornia.filters
import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.box import BoxBorder, box_mean
from lowlight.ops.checks import check_image

UpsamplingMethod = Literal["guided", "gain", "bilinear"]
UPSAMPLING_METHODS: tuple[str, ...] = ("guided", "gain", "bilinear")

#: about one 8-bit step: the offset inside the logarithms (the CurveNet's own)
LOG_EPS = 1.0 / 255


def upsample_reference(
    lq_small: Tensor, ref_small: Tensor, lq: Tensor, method: UpsamplingMethod = "guided",
    radius: int = 2, regularisation: float = 1e-2, flat_gradient: float = 0.0,
    flat_weight: Tensor | None = None,
) -> Tensor:
    """The reference at the input's resolution from its working-resolution version.

    Args:
        lq_small: (B, C, h, w) float in [0, 1], the downscaled input the reference was made from.
        ref_small: (B, C, h, w) float in [0, 1], its reference.
        lq: (B, C, H, W) float in [0, 1], the full-size input (H >= h, W >= w).
        method: ``"guided"``, ``"gain"`` or ``"bilinear"`` (module docstring).
        radius: the guided filter's window radius in working-resolution pixels, >= 0.
        regularisation: the guided filter's epsilon (in squared log units), > 0: larger keeps
            ``A`` nearer the whole image's slope.
        flat_gradient: ``"guided"`` only: the Sobel gradient magnitude of the reference's
            channel mean, per full-size pixel, below which the output moves towards the bilinear
            reference (all the way at 0 gradient, linearly); 0 = the plain guided filter.
        flat_weight: (B, 1, 1, 1) float in [0, 1], how far each image's flat regions move (the
            enhancer passes its noise level: a clean image keeps its full-size texture);
            ``None`` = 1.

    Returns:
        (B, C, H, W) float in [0, 1], same dtype.
    """
    check_image(lq_small, name="lq_small")
    check_image(lq, lq_small.shape[1], name="lq")
    if ref_small.shape != lq_small.shape:
        raise ValueError(f"ref_small {tuple(ref_small.shape)} does not match lq_small {tuple(lq_small.shape)}")
    if method not in UPSAMPLING_METHODS:
        raise ValueError(f"method must be one of {UPSAMPLING_METHODS}, got {method!r}")
    if radius < 0 or not regularisation > 0:
        raise ValueError(f"need radius >= 0 and regularisation > 0, got {radius!r}, {regularisation!r}")
    if not flat_gradient >= 0:
        raise ValueError(f"flat_gradient must be >= 0, got {flat_gradient!r}")
    size = tuple(lq.shape[-2:])
    if method == "bilinear":
        return _up(ref_small, size).clamp(0.0, 1.0)
    if method == "gain":
        gain = (ref_small + LOG_EPS) / (lq_small + LOG_EPS)
        return ((lq + LOG_EPS) * _up(gain, size) - LOG_EPS).clamp(0.0, 1.0)
    guide, target = torch.log(lq_small + LOG_EPS), torch.log(ref_small + LOG_EPS)
    slope, offset = _guided_coefficients(guide, target, radius, regularisation)
    recorded = torch.is_grad_enabled() and any(t.requires_grad for t in (lq_small, ref_small, lq))
    if recorded:
        log_ref = torch.addcmul(_up(offset, size), _up(slope, size), torch.log(lq + LOG_EPS))
        guided = (log_ref.exp() - LOG_EPS).clamp(0.0, 1.0)
    else:  # in place, so that a large image holds two full-size buffers, not five
        log_ref = torch.log(lq + LOG_EPS).mul_(_up(slope, size)).add_(_up(offset, size))
        guided = log_ref.exp_().sub_(LOG_EPS).clamp_(0.0, 1.0)
    if flat_gradient == 0 or (flat_weight is not None and not bool(flat_weight.any())):
        return guided
    weight = _flatness(ref_small, size, flat_gradient)  # (B, 1, h, w)
    weight = _up(weight if flat_weight is None else weight * flat_weight, size)  # (B, 1, H, W)
    if recorded:
        return torch.lerp(guided, _up(ref_small, size), weight)
    return guided.lerp_(_up(ref_small, size), weight)


def _flatness(ref_small: Tensor, size: tuple[int, ...], flat_gradient: float) -> Tensor:
    """(B, 1, h, w) in [0, 1]: 1 where the reference is flat, 0 from ``flat_gradient`` up.

    The gradient is taken on the working copy and divided by the upsampling factor, which is
    the gradient of the bilinear full-size reference per full-size pixel (up to interpolation).
    """
    scale = max(size[-2:]) / max(ref_small.shape[-2:])
    gradient = kornia.filters.sobel(ref_small.mean(dim=1, keepdim=True)) / scale
    return (1.0 - gradient / flat_gradient).clamp(0.0, 1.0)


def _guided_coefficients(guide: Tensor, target: Tensor, radius: int, regularisation: float) -> tuple[Tensor, Tensor]:
    """The guided filter's window-averaged (A, b) with ``target ~ A guide + b``: each (B, C, h, w)."""
    border: BoxBorder = "reflect" if min(guide.shape[-2:]) > radius else "replicate"

    def box(x: Tensor) -> Tensor:
        return box_mean(x, radius, border)

    # the four window means in one call (channels stacked): the filter's cost is per element,
    # and one call keeps both threads busy on more work
    stacked = torch.cat([guide, target, guide * target, guide * guide], dim=1)
    mean_guide, mean_target, mean_product, mean_square = box(stacked).chunk(4, dim=1)
    covariance = mean_product - mean_guide * mean_target
    variance = mean_square - mean_guide.square()
    # in flat windows the local slope is undetermined: regularise it towards the image's own
    # slope (per channel), not towards 0, which would flatten the full-resolution detail there
    centred = guide - guide.mean(dim=(2, 3), keepdim=True)
    prior = (centred * target).mean(dim=(2, 3), keepdim=True) / centred.square().mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    slope = (covariance + regularisation * prior) / (variance + regularisation)
    offset = mean_target - slope * mean_guide
    smooth_slope, smooth_offset = box(torch.cat([slope, offset], dim=1)).chunk(2, dim=1)
    return smooth_slope, smooth_offset


def _up(x: Tensor, size: tuple[int, ...]) -> Tensor:
    """Bilinear upsampling of a smooth map to ``size``."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
