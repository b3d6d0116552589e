"""The RGB reference CNN: smooth per-pixel log-domain curves plus a small denoising refinement.

Why this shape: a dark photo is, to a good approximation, ``D = (L * G) ** gamma`` with a light
field L and exponent gamma that vary slowly across the image, so ``G`` is an affine map of
``log D`` with slowly varying coefficients: ``log G = a log D + b``. A network that only sees a
17-pixel window (GPE's) cannot tell how dark the whole image is; this one predicts the
coefficient maps ``a, b`` on a coarse grid from a fixed-size thumbnail of the whole image
(global context, cost independent of the image size), upsamples them bilinearly, applies the
curve at full resolution, then removes sensor noise with a few convolutions at half
resolution (pixel-unshuffled), where a 3 x 3 kernel sees 6 x 6 pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lowlight.ops.checks import check_image


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, padding_mode="replicate")


class CurveNet(nn.Module):
    """RGB (3 -> 3) reference CNN; see the module docstring for the design.

    Args:
        thumbnail: side of the square thumbnail the curve branch sees.
        width: channels of the curve branch.
        refine_width: channels of the half-resolution refinement branch (0 disables it).
        eps: offset inside the logarithm, about one 8-bit step.
    """

    def __init__(
        self, thumbnail: int = 64, width: int = 32, refine_width: int = 32, eps: float = 1.0 / 255
    ) -> None:
        super().__init__()
        if thumbnail < 16 or thumbnail % 8:
            raise ValueError(f"thumbnail must be a multiple of 8 and >= 16, got {thumbnail}")
        self.thumbnail = thumbnail
        self.width = width
        self.eps = eps
        self.encoder = nn.Sequential(
            _conv(6, width), nn.ReLU(inplace=True),
            _conv(width, width, 2), nn.ReLU(inplace=True),  # thumbnail / 2
            _conv(width, width, 2), nn.ReLU(inplace=True),  # thumbnail / 4
            _conv(width, width, 2), nn.ReLU(inplace=True),  # thumbnail / 8: the coefficient grid
        )
        self.global_context = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True))
        self.local_context = nn.Sequential(_conv(2 * width, width), nn.ReLU(inplace=True))
        self.coefficients = nn.Conv2d(width, 6, kernel_size=1)  # a (3) and b (3) per grid cell
        nn.init.zeros_(self.coefficients.weight)
        # Start at the curve a = 1/3, b = 0: a mid-range gamma of 3 undone.
        nn.init.constant_(self.coefficients.bias, 0.0)
        self.a_scale = 1.0 / 3.0
        self.refine_width = refine_width
        if refine_width > 0:
            self.refine = nn.Sequential(
                _conv(24, refine_width), nn.ReLU(inplace=True),
                _conv(refine_width, refine_width), nn.ReLU(inplace=True),
                _conv(refine_width, 12),
            )
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)

    @property
    def in_channels(self) -> int:
        return 3

    def config(self) -> dict[str, float | int]:
        """The constructor arguments, stored beside the weights in a checkpoint."""
        return {
            "thumbnail": self.thumbnail, "width": self.width,
            "refine_width": self.refine_width, "eps": self.eps,
        }

    def coefficient_grid(self, x: Tensor) -> Tensor:
        """The curve coefficients on their coarse grid, before upsampling.

        Args:
            x: (B, 3, H, W) float in [0, 1].

        Returns:
            (B, 6, t/8, t/8) float (t = ``thumbnail``): three log-slope channels, then three
            offsets ``b``; see :meth:`curve_maps`. Video smooths these over time.
        """
        thumb = F.interpolate(
            x, size=(self.thumbnail, self.thumbnail), mode="bilinear", antialias=True,
            align_corners=False,
        )  # (B, 3, t, t)
        log_thumb = torch.log(thumb + self.eps) / -math.log(self.eps)  # in [-1, 0]
        feat = self.encoder(torch.cat([thumb, log_thumb], dim=1))  # (B, width, t/8, t/8)
        pooled = self.global_context(feat.mean(dim=(2, 3)))  # (B, width)
        feat = torch.cat([feat, pooled[:, :, None, None].expand_as(feat)], dim=1)
        return self.coefficients(self.local_context(feat))  # (B, 6, t/8, t/8)

    def curve_maps(self, x: Tensor, coefficients: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-pixel curve coefficients.

        Args:
            x: (B, 3, H, W) float in [0, 1].
            coefficients: (B, 6, t/8, t/8) grid to use instead of :meth:`coefficient_grid` of ``x``.

        Returns:
            ``(a, b)``, each (B, 3, H, W) float: ``log y = a log(x + eps) + b``, a > 0.
        """
        h, w = x.shape[-2:]
        coeff = self.coefficient_grid(x) if coefficients is None else coefficients
        coeff = F.interpolate(coeff, size=(h, w), mode="bilinear", align_corners=False)
        a = self.a_scale * torch.exp(coeff[:, :3])
        return a, coeff[:, 3:]

    def forward(self, x: Tensor, coefficients: Tensor | None = None) -> Tensor:
        """Reference image from a low-light image.

        Args:
            x: (B, 3, H, W) float in [0, 1], any H, W >= 1.
            coefficients: (B, 6, t/8, t/8) curve grid to apply instead of the one predicted from
                ``x`` (see :meth:`coefficient_grid`).

        Returns:
            (B, 3, H, W) float in [0, 1].
        """
        check_image(x, 3, "x")
        a, b = self.curve_maps(x, coefficients)
        y = torch.exp(a * torch.log(x + self.eps) + b).clamp(0.0, 1.0)
        if self.refine_width > 0:
            y = y + self._refine(x, y)
        return y.clamp(0.0, 1.0)

    def _refine(self, x: Tensor, y: Tensor) -> Tensor:
        """Residual correction (B, 3, H, W), computed at half resolution."""
        h, w = y.shape[-2:]
        pad = (0, w % 2, 0, h % 2)  # pixel_unshuffle needs even sizes
        z = F.pad(torch.cat([y, x], dim=1), pad, mode="replicate")  # (B, 6, H', W')
        z = F.pixel_unshuffle(z, 2)  # (B, 24, H'/2, W'/2)
        r = F.pixel_shuffle(self.refine(z), 2)  # (B, 3, H', W')
        return r[..., :h, :w]
