"""Synthetic low-light clips: a real photo panned and zoomed, darkened per clip, noisy per frame.

The bright clip is a moving crop window over a photo (bilinear resampling), optionally cutting
to a second photo half way, to exercise the scene-cut detector. The dark clip is the bright one
through ``G ** gamma`` (one gamma for the whole clip), Poisson-Gaussian sensor noise drawn afresh
for every frame, and 8-bit quantisation (:mod:`lowlight.data.darken`'s functions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lowlight.ops.checks import check_image
from lowlight.data.darken import gamma_darken, poisson_gaussian_noise, quantize_8bit


@dataclass
class ClipOptions:
    """A synthetic clip.

    Attributes:
        frames: number of frames (>= 2).
        height, width: frame size.
        zoom: magnification at the last frame relative to the first (>= 1).
        pan: horizontal travel of the window centre, as a fraction of the photo's width.
        cut_at: frame index where the clip cuts to the second photo (``None``: no cut).
    """

    frames: int = 24
    height: int = 360
    width: int = 640
    zoom: float = 1.2
    pan: float = 0.15
    cut_at: int | None = None

    def __post_init__(self) -> None:
        if self.frames < 2 or self.height < 1 or self.width < 1:
            raise ValueError(f"need frames >= 2 and a positive size, got {self.frames} frames of "
                             f"{self.height} x {self.width}")
        if self.zoom < 1 or not 0 <= self.pan < 0.5:
            raise ValueError(f"need zoom >= 1 and pan in [0, 0.5), got zoom {self.zoom}, pan {self.pan}")


@dataclass
class DarkeningOptions:
    """Per-clip gamma and per-frame sensor noise.

    Attributes:
        gamma: exponent of ``G ** gamma`` (> 0), fixed for the clip.
        photons: photons at full scale of the shot noise (> 0).
        read_std: Gaussian read-noise std (>= 0).
        seed: seed of the noise generator.
    """

    gamma: float = 3.0
    photons: float = 300.0
    read_std: float = 0.004
    seed: int = 0


def pan_zoom_frame(photo: Tensor, u: float, height: int, width: int, zoom: float, pan: float) -> Tensor:
    """One frame of a pan-and-zoom over ``photo``.

    Args:
        photo: (3, H0, W0) float in [0, 1].
        u: position in the clip, 0 (first frame) .. 1 (last).
        height, width: output size.
        zoom: magnification at ``u = 1`` relative to ``u = 0``.
        pan: horizontal travel of the window centre over the clip, fraction of the photo width.

    Returns:
        (3, height, width) float in [0, 1].
    """
    check_image(photo[None], 3, "photo")
    h0, w0 = photo.shape[-2:]
    aspect = width / height
    # the largest window of the output's aspect, shrunk to leave room for the pan
    base_w = min(w0, h0 * aspect) * (1 - 2 * pan)
    win_w = base_w / (1 + (zoom - 1) * u)
    win_h = win_w / aspect
    centre_x = w0 / 2 + (u - 0.5) * pan * w0
    theta = torch.tensor([[win_w / w0, 0.0, 2 * centre_x / w0 - 1],
                          [0.0, win_h / h0, 0.0]], dtype=photo.dtype)[None]
    grid = F.affine_grid(theta, [1, 3, height, width], align_corners=False)
    return F.grid_sample(photo[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0].clamp(0, 1)


def bright_clip(photos: list[Tensor], options: ClipOptions) -> Iterator[Tensor]:
    """The bright frames, one by one: (3, height, width) float in [0, 1].

    Args:
        photos: one (3, H0, W0) photo, or two when ``options.cut_at`` is set (the second after the cut).
        options: :class:`ClipOptions`.
    """
    if options.cut_at is not None and len(photos) < 2:
        raise ValueError(f"cut_at={options.cut_at} needs two photos, got {len(photos)}")
    for t in range(options.frames):
        second = options.cut_at is not None and t >= options.cut_at
        yield pan_zoom_frame(photos[1 if second else 0], t / (options.frames - 1), options.height,
                             options.width, options.zoom, options.pan)


def darken_frames(bright: Tensor, options: DarkeningOptions, generator: torch.Generator) -> Tensor:
    """Darken frames: (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float32, multiples of 1/255.

    The noise comes from ``generator`` (seed it with ``options.seed`` once per clip and pass the
    same generator for every batch: each frame then gets its own draw).
    """
    clean = gamma_darken(bright.float(), options.gamma)
    return quantize_8bit(poisson_gaussian_noise(clean, options.photons, options.read_std, generator))


def skimage_photo(name: str) -> Tensor:
    """A photo bundled with scikit-image (``skimage.data.<name>()``): (3, H, W) float32 in [0, 1]."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no photo named {name!r}")
    array = loader()
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"skimage.data.{name}() is not an RGB photo: shape {array.shape}")
    return torch.from_numpy(array).permute(2, 0, 1).float() / 255.0
