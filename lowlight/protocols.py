"""The two darkening protocols of ``../shared/PROTOCOL.md`` and their true inverses (the oracle).

Protocol A ("gamma-COCO"): 25 versions ``D = round(G ** gamma * 255) / 255`` for gamma in
``linspace(2, 6, 25)``. Protocol B ("uneven light + noise"): 10 versions ``darken_b``, a
re-implementation of ``../shared/protocol_b.py`` that gives bit-identical 8-bit images (same numpy
operations, same draws from ``default_rng([2026, image_index, version])`` in the same order).
Both add the "bright input" (gamma = 1, the original image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from lowlight.ops.checks import check_image

ProtocolName = Literal["a", "b"]

GAMMAS_A = np.linspace(2.0, 6.0, 25)
GAMMAS_B = np.linspace(1.5, 4.0, 10)
PEAK_PHOTONS_B = 300.0  # photons at full scale: shot noise is Poisson(D * PEAK) / PEAK
READ_STD_B = 0.004  # Gaussian read noise, in [0, 1] units
SEED_B = 2026


@dataclass(frozen=True)
class ImageContext:
    """What a method may know about the image it enhances (only the oracle uses the truth).

    Attributes:
        protocol: ``"a"``, ``"b"``, or ``"none"`` (a real dark photo, no ground truth).
        image_index: 0-based position in the evaluated set sorted by file name.
        image_name: the file name.
        version: the protocol's version index, ``None`` for the bright input or a real photo.
        gamma: the true darkening gamma; 1.0 for the bright input, ``None`` without ground truth.
        light: the true light field, (1, 1, H, W) float64 in (0, 1] (protocol B), or ``None``
            for uniform light.
    """

    protocol: str
    image_index: int
    image_name: str
    version: int | None = None
    gamma: float | None = None
    light: Tensor | None = None


@dataclass(frozen=True)
class DarkVersion:
    """One input to enhance: a dark (or bright) image and its context.

    Attributes:
        image: (1, 3, H, W) float32 in [0, 1].
        context: the darkening that made it.
    """

    image: Tensor
    context: ImageContext

    @property
    def is_bright(self) -> bool:
        """True for the bright-input row (gamma = 1, the original image)."""
        return self.context.version is None


def protocol_version_count(protocol: ProtocolName) -> int:
    """25 for protocol A, 10 for protocol B."""
    return len(protocol_gammas(protocol))


def protocol_gammas(protocol: ProtocolName) -> np.ndarray:
    """The protocol's gammas, float64, indexed by version."""
    if protocol == "a":
        return GAMMAS_A
    if protocol == "b":
        return GAMMAS_B
    raise ValueError(f"protocol must be 'a' or 'b', got {protocol!r}")


def spread_versions(protocol: ProtocolName, count: int | None) -> list[int]:
    """Version indices to evaluate: all of them (``None``), or ``count`` spread evenly.

    A subset keeps the protocol's own indices (so protocol B's seeds are unchanged); it is meant
    for quick checks, the protocol itself is every version.
    """
    total = protocol_version_count(protocol)
    if count is None or count >= total:
        return list(range(total))
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if count == 1:
        return [total // 2]
    return sorted({round(i) for i in np.linspace(0, total - 1, count)})


def darken_a(gt: Tensor, gamma: float) -> Tensor:
    """Protocol A darkening ``round(G ** gamma * 255) / 255`` (computed in float64).

    Args:
        gt: (B, 3, H, W) float in [0, 1].
        gamma: the exponent (> 0).

    Returns:
        (B, 3, H, W) float32 in [0, 1], multiples of 1/255.
    """
    check_image(gt, 3, "gt")
    dark = gt.to(torch.float64).clamp(0.0, 1.0).pow(gamma)
    return (torch.round(dark * 255.0) / 255.0).to(torch.float32)


def light_field_b(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Protocol B's uneven illumination: ambient light plus 1-3 soft light pools.

    The draws and floating-point operations follow ``protocol_b.light_field`` exactly.

    Returns:
        (height, width) float64 in (0, 1].
    """
    ambient = rng.uniform(0.05, 0.3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pools = np.zeros((height, width))
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sigma = rng.uniform(0.15, 0.5) * max(height, width)
        pools = np.maximum(pools, np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)))
    return ambient + (1 - ambient) * pools


def darken_b_with_light(
    gt: np.ndarray, image_index: int, version: int
) -> tuple[np.ndarray, np.ndarray]:
    """Protocol B dark image and the light field that made it.

    Args:
        gt: (H, W, 3) float in [0, 1].
        image_index: the image's 0-based position in the sorted evaluated set.
        version: 0 .. 9.

    Returns:
        dark: (H, W, 3) uint8, bit-identical to ``protocol_b.darken_b``.
        light: (H, W) float64 in (0, 1].
    """
    if gt.ndim != 3 or gt.shape[2] != 3:
        raise ValueError(f"gt: expected (H, W, 3), got {gt.shape}")
    if not 0 <= version < len(GAMMAS_B):
        raise ValueError(f"version must be in [0, {len(GAMMAS_B) - 1}], got {version}")
    rng = np.random.default_rng([SEED_B, image_index, version])
    gamma = GAMMAS_B[version]
    light = light_field_b(gt.shape[0], gt.shape[1], rng)
    clean = np.power(np.clip(gt, 0, 1).astype(np.float64), gamma) * light[..., None]
    # Draw order matters for bit-identity: all Poisson draws, then all Gaussian draws.
    shot = rng.poisson(clean * PEAK_PHOTONS_B) / PEAK_PHOTONS_B
    noisy = shot + rng.normal(0.0, READ_STD_B, clean.shape)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8), light


def darken_b(gt: np.ndarray, image_index: int, version: int) -> np.ndarray:
    """Protocol B dark image, same signature and output as ``protocol_b.darken_b``.

    Args:
        gt: (H, W, 3) float in [0, 1].

    Returns:
        (H, W, 3) uint8.
    """
    return darken_b_with_light(gt, image_index, version)[0]


def invert_darkening(dark: Tensor, gamma: float, light: Tensor | None = None) -> Tensor:
    """The oracle: ``clip(D / light, 0, 1) ** (1 / gamma)`` with the true gamma and light.

    Protocol A is the case ``light = None`` (``D ** (1 / gamma)``); protocol B equals
    ``protocol_b.oracle_b`` (no denoising).

    Args:
        dark: (B, 3, H, W) float in [0, 1].
        gamma: the true gamma (> 0).
        light: (B or 1, 1, H, W) float in (0, 1], or ``None``.

    Returns:
        (B, 3, H, W) float in [0, 1], the dtype of ``dark``.
    """
    check_image(dark, 3, "dark")
    compute = dark.to(torch.float64)
    if light is not None:
        compute = (compute / light.to(device=dark.device, dtype=torch.float64)).clamp(0.0, 1.0)
    return compute.pow(1.0 / gamma).to(dark.dtype)


def protocol_versions(
    protocol: ProtocolName,
    gt: Tensor,
    image_index: int,
    image_name: str,
    versions: list[int] | None = None,
    include_bright: bool = True,
) -> list[DarkVersion]:
    """Every input the protocol derives from one ground-truth image.

    Args:
        protocol: ``"a"`` or ``"b"``.
        gt: (1, 3, H, W) float in [0, 1], already resized.
        image_index: 0-based position in the sorted evaluated set (seeds protocol B).
        image_name: for the context.
        versions: version indices (default all, see :func:`spread_versions`).
        include_bright: append the bright input (gamma = 1, ``gt`` itself).

    Returns:
        The dark versions in version order, then the bright input; images (1, 3, H, W) float32.
    """
    check_image(gt, 3, "gt")
    if gt.shape[0] != 1:
        raise ValueError(f"gt: expected one image (1, 3, H, W), got {tuple(gt.shape)}")
    gammas = protocol_gammas(protocol)
    indices = list(range(len(gammas))) if versions is None else versions
    out: list[DarkVersion] = []
    gt_numpy = gt[0].permute(1, 2, 0).cpu().numpy()  # (H, W, 3), only used by protocol B
    for version in indices:
        gamma = float(gammas[version])
        if protocol == "a":
            dark = darken_a(gt, gamma)
            light = None
        else:
            dark_uint8, light_np = darken_b_with_light(gt_numpy, image_index, version)
            dark = torch.from_numpy(dark_uint8).permute(2, 0, 1)[None].to(torch.float32) / 255.0
            light = torch.from_numpy(light_np)[None, None]  # (1, 1, H, W) float64
        context = ImageContext(protocol, image_index, image_name, version, gamma, light)
        out.append(DarkVersion(dark.to(gt.device), context))
    if include_bright:
        bright = ImageContext(protocol, image_index, image_name, None, 1.0, None)
        out.append(DarkVersion(gt.to(torch.float32), bright))
    return out
