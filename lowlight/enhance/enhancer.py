"""The enhancer: reference CNN + clustered GP, in the LM (luma) or CM (RGB) arrangement."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lowlight.archs import GPECNN
from lowlight.enhance.checkpoints import default_checkpoint, load_learned_gp, load_reference_cnn, options_for_checkpoint
from lowlight.enhance.clustered_gp import GPFit, GPOptions, fit_clustered_gp, predict_clustered_gp
from lowlight.gp.learnable import LearnedHyperparameters
from lowlight.gp.warm_start import WarmStart
from lowlight.ops.checks import check_image
from lowlight.ops.color import replace_luma, rgb_to_luma
from lowlight.ops.gates import estimate_noise_sigma, exposure_weight, linear_ramp
from lowlight.ops.noise_smoothing import smooth_noise
from lowlight.ops.guided_upsample import UPSAMPLING_METHODS, UpsamplingMethod, upsample_reference
from lowlight.ops.resize import long_side_size, resize_image
from lowlight.ops.strength import MAX_STRENGTH, apply_strength
from lowlight.ops.tiling import run_tiled

_LUMA_EPS = 1.0 / 255

GPResolution = Literal["full", "working"]
#: where the GP can predict on an image larger than the working copy (``EnhancerConfig.gp_resolution``)
GP_RESOLUTIONS: tuple[str, ...] = ("full", "working")

#: the noise gate's sigma thresholds (``--noise-gate``), chosen on the held-out training photos
#: (README, *The gates, chosen on the training side*): protocol A's clean inputs sit at sigma
#: 0.0012 (median), 61 % below 0.0015; B's noisy ones at 0.0082, 98 % at or above 0.003. With CM,
#: clean A inputs gain +0.005 SSIM and +0.025 SIFT F1 without the GP and noisy B inputs keep it.
#: Not the default: real photos read as clean too, and on the held-out real pairs the GP helps them.
SUGGESTED_NOISE_GATE = (0.0015, 0.003)


@dataclass
class EnhancerConfig:
    """What the enhancer does.

    Attributes:
        mode: ``"cm"``: RGB reference CNN and a GP on RGB patches (the paper's colour model);
            ``"lm"``: luma CNN and GP on Y only (the paper's luminance model).
        gp: the clustered GP's options; see :class:`lowlight.enhance.clustered_gp.GPOptions`.
        use_gp: ``False`` returns the reference CNN's output (the "CNN alone" baseline).
        lm_colour: how LM restores colour: ``"carry"`` keeps the input's Cb/Cr (the paper),
            ``"ratio"`` scales R, G, B by the luma gain ``Y_out / Y_in`` (keeps hue and
            saturation).
        cnn_tile: the luma CNN (a local network) runs in tiles of this side on large images.
        exposure_gate: ``(low, high)`` median-luma thresholds: an image whose median luma is at
            least ``high`` is already well exposed and returned unchanged, one below ``low`` is
            enhanced fully, and in between the two are blended linearly. Guards photos that were
            never dark, which the reference CNNs over-brighten (README, bright-input row).
            ``None`` disables it.
        noise_gate: ``(low, high)`` thresholds on the input's estimated noise sigma
            (:func:`lowlight.ops.gates.estimate_noise_sigma`): below ``low`` the GP is skipped and the
            CNN's reference returned (a clean input gains nothing from the GP's patch averaging
            and loses texture), at or above ``high`` the GP's output is used, blended between.
            ``None`` (default) always uses the GP; :data:`SUGGESTED_NOISE_GATE` is the option's
            (``--noise-gate``). Where the GP is skipped, the posterior std is 0.
        strength: how strong the enhancement is (:func:`lowlight.ops.strength.apply_strength`): 0
            returns the input, 1 (default) the enhancer's output, above 1 brighter.
        work_size: the working resolution, as the longer side in pixels: larger images are
            downscaled to it for the reference CNN, the patch sampling, k-means++ and the GP fit
            (and the exposure gate), and the GP then predicts every pixel of the full-size image
            from its full-size patches. 0 runs everything at the input's resolution. Images no
            larger than it are unaffected.
        reference_upsampling: how the working-resolution reference is brought to full size for
            the GP's inputs (:func:`lowlight.ops.guided_upsample.upsample_reference`).
        reference_flat_gradient: with ``"guided"``, where the reference's gradient per full-size
            pixel is below this, the full-size reference leans towards the bilinear one (less
            of the input's noise); 0 = the plain guided filter. 0.02 was chosen on held-out
            training photos (README, native-resolution quality).
        reference_flat_noise: (low, high) noise sigma (:func:`lowlight.ops.gates.estimate_noise_sigma`
            on the full-resolution centre crop) over which that blend ramps from none to full:
            a clean photo keeps its full-size texture, a noisy one loses its flat-region noise.
            Chosen on held-out training photos: protocol A inputs measure <= 0.0012, B >= 0.0026.
        gp_resolution: where the GP predicts when the image is larger than the working size:
            ``"working"`` (default), the pixels of the working copy, whose enhanced image is then
            brought to full size as the reference is (``reference_upsampling``, with the
            flat-region blend): about the cost of a thumbnail plus two edge-aware filters at full
            size; ``"full"``, every full-size pixel from its full-size patches (the GP denoises
            at full resolution, k kernel values per pixel and channel: 2-4x slower at 2-8 MP,
            better SSIM and SIFT F1 on noisy photos; README, size sweep and native quality).
        guide_noise_floor: with ``gp_resolution="working"``, the full-size photo that guides the
            output's upsampling is first smoothed (:func:`lowlight.ops.noise_smoothing.smooth_noise`)
            with its noise sigma, at least this: the noise and 8-bit steps the upsampling would
            amplify are averaged, edges kept. ``None``: not smoothed. One 8-bit step (1/255) was
            chosen on held-out training photos (README, native-resolution quality).
    """

    mode: Literal["cm", "lm"] = "cm"
    gp: GPOptions = field(default_factory=GPOptions)
    use_gp: bool = True
    lm_colour: Literal["carry", "ratio"] = "carry"
    cnn_tile: int = 1024
    exposure_gate: tuple[float, float] | None = (0.30, 0.40)
    noise_gate: tuple[float, float] | None = None
    strength: float = 1.0
    work_size: int = 512
    reference_upsampling: UpsamplingMethod = "guided"
    reference_flat_gradient: float = 0.02
    reference_flat_noise: tuple[float, float] = (0.0015, 0.004)
    gp_resolution: GPResolution = "working"
    guide_noise_floor: float | None = 1 / 255

    def __post_init__(self) -> None:
        if self.guide_noise_floor is not None and not self.guide_noise_floor > 0:
            raise ValueError(f"guide_noise_floor must be > 0 or None, got {self.guide_noise_floor!r}")
        if self.gp_resolution not in GP_RESOLUTIONS:
            raise ValueError(f"gp_resolution must be 'full' or 'working', got {self.gp_resolution!r}")
        if self.work_size < 0:
            raise ValueError(f"work_size must be >= 0 (0 = full resolution), got {self.work_size!r}")
        if self.reference_upsampling not in UPSAMPLING_METHODS:
            raise ValueError(f"reference_upsampling must be one of {UPSAMPLING_METHODS}, "
                             f"got {self.reference_upsampling!r}")
        if not self.reference_flat_gradient >= 0:
            raise ValueError(f"reference_flat_gradient must be >= 0, got {self.reference_flat_gradient!r}")
        low, high = self.reference_flat_noise
        if not 0 <= low < high:
            raise ValueError(f"reference_flat_noise must be (low, high) with 0 <= low < high, "
                             f"got {self.reference_flat_noise!r}")
        if not 0 <= self.strength <= MAX_STRENGTH:
            raise ValueError(f"strength must be in [0, {MAX_STRENGTH}], got {self.strength!r}")
        if self.exposure_gate is not None and not 0 <= self.exposure_gate[0] < self.exposure_gate[1] <= 1:
            raise ValueError(f"exposure_gate must be (low, high) with 0 <= low < high <= 1, got {self.exposure_gate}")
        if self.mode not in ("cm", "lm"):
            raise ValueError(f"mode must be 'cm' or 'lm', got {self.mode!r}")
        if self.noise_gate is not None and not 0 <= self.noise_gate[0] < self.noise_gate[1]:
            raise ValueError(f"noise_gate must be (low, high) with 0 <= low < high, got {self.noise_gate}")
        if self.lm_colour not in ("carry", "ratio"):
            raise ValueError(f"lm_colour must be 'carry' or 'ratio', got {self.lm_colour!r}")


def keep_neutral(lq: Tensor, out: Tensor) -> Tensor:
    """Grey out the output of images whose input is grey (R = G = B at every pixel).

    A neutral input (a grayscale photo, a flat black frame) holds no colour, so any hue in the
    output is the CNN's invention: such images get the mean of the output's channels.

    Args:
        lq: (B, 3, H, W) the input.
        out: (B, 3, H, W) its enhancement.

    Returns:
        (B, 3, H, W): ``out``, neutral where ``lq`` is.
    """
    neutral = (lq == lq[:, :1]).flatten(1).all(dim=1).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    if not bool(neutral.any()):
        return out
    # only pixels whose channels differ: a grey output (e.g. an input the exposure gate returned
    # unchanged) keeps its exact values, which a mean of three equal floats would not
    tinted = neutral & (out != out[:, :1]).any(dim=1, keepdim=True)  # (B, 1, H, W)
    return torch.where(tinted, out.mean(dim=1, keepdim=True).expand_as(out), out)


class EnhanceResult:
    """Output of :class:`Enhancer`.

    Attributes:
        image: (B, 3, H, W) float in [0, 1], the enhanced image.
        reference: (B, C, H, W) float in [0, 1], the CNN's reference (C = 1 for LM, 3 for CM),
            brought to full size from the working resolution where that is smaller (on first
            access, when the enhancement itself did not need it at full size).
        std: (B, 1, H, W) float >= 0, the GP's posterior standard deviation (root of the mean
            variance over channels), or ``None`` when not asked for or without GP.
    """

    def __init__(self, image: Tensor, reference: Tensor | Callable[[], Tensor], std: Tensor | None = None) -> None:
        self.image = image
        self.std = std
        self._reference = reference

    @property
    def reference(self) -> Tensor:
        if not isinstance(self._reference, Tensor):
            self._reference = self._reference()
        return self._reference


class Enhancer(nn.Module):
    """Reference CNN followed by the clustered exact GP.

    Args:
        net: the reference CNN: (B, 1, H, W) luma for ``mode="lm"``, (B, 3, H, W) RGB for
            ``"cm"``.
        config: :class:`EnhancerConfig`.
        learned_gp: GP hyperparameters learned end to end
            (:class:`lowlight.gp.learnable.LearnedHyperparameters`); ``None``: the per-image
            heuristic.
    """

    def __init__(self, net: nn.Module, config: EnhancerConfig | None = None,
                 learned_gp: LearnedHyperparameters | None = None) -> None:
        super().__init__()
        self.config = config or EnhancerConfig()
        expected = 1 if self.config.mode == "lm" else 3
        if getattr(net, "in_channels", expected) != expected:
            raise ValueError(
                f"mode {self.config.mode!r} needs a {expected}-channel CNN, got "
                f"{type(net).__name__} with {net.in_channels} channels"
            )
        self.net = net.eval()
        self.learned_gp = learned_gp

    @classmethod
    def from_checkpoint(
        cls, config: EnhancerConfig | None = None, checkpoint: Path | None = None,
        device: torch.device | str = "cpu",
    ) -> Enhancer:
        """Load the reference CNN from ``checkpoint`` (default: the shipped one for the mode).

        A checkpoint trained end to end also holds the GP's learned hyperparameters (tensors
        ``gp.*``, see :mod:`lowlight.enhance.checkpoints`): they are used with the GP layout they
        were learned for (patch, per_channel, inputs, target, coordinates, noise_fraction, from
        the checkpoint); the config's other GP options (k, seed, sampling) still apply.
        """
        config = config or EnhancerConfig()
        path = checkpoint or default_checkpoint(config.mode)
        loaded = load_reference_cnn(path, device)
        if (loaded.channels == "y") != (config.mode == "lm"):
            raise ValueError(f"{path} holds a {loaded.channels!r} CNN, which does not fit mode {config.mode!r}")
        try:
            learned_gp = load_learned_gp(loaded)
            if learned_gp is not None:
                config = replace(config, gp=options_for_checkpoint(config.gp, learned_gp, loaded.metadata))
        except (TypeError, ValueError, RuntimeError) as err:  # bad gp.* tensors or options
            raise ValueError(f"{path}: {err}") from err
        return cls(loaded.net, config, learned_gp=learned_gp).to(device)

    def with_work_size(self, work_size: int) -> Enhancer:
        """This enhancer (same CNN and learned GP, shared, not copied) with another working size.

        Args:
            work_size: :attr:`EnhancerConfig.work_size` of the result (>= 0).

        Returns:
            ``self`` when the working size is already ``work_size``, else a new :class:`Enhancer`.
        """
        if work_size == self.config.work_size:
            return self
        return Enhancer(self.net, replace(self.config, work_size=work_size), self.learned_gp)

    def reference(self, lq: Tensor) -> Tensor:
        """The CNN's reference: (B, 3, H, W) in [0, 1] -> (B, C, H, W) in [0, 1]."""
        if self.config.mode == "lm":
            luma = rgb_to_luma(lq)
            if isinstance(self.net, GPECNN):  # a local net: tile large images to bound memory
                return run_tiled(self.net, luma, self.config.cnn_tile, GPECNN.border)
            return self.net(luma)
        return self.net(lq)

    def working_copy(self, lq: Tensor) -> Tensor:
        """The input at the working resolution (``EnhancerConfig.work_size``).

        Args:
            lq: (B, 3, H, W) float in [0, 1].

        Returns:
            (B, 3, h, w) float in [0, 1]: ``lq`` itself when no larger than the working size,
            else downscaled (antialiased) to a longer side of ``work_size``.
        """
        return resize_image(lq, long_side_size(*lq.shape[-2:], self.config.work_size))

    def gp_low(self, lq: Tensor) -> Tensor:
        """What the GP sees of the input: (B, 3, H, W) RGB -> (B, C, H, W), luma for LM."""
        return rgb_to_luma(lq) if self.config.mode == "lm" else lq

    def fit_gp(self, lq: Tensor, ref: Tensor, warm: WarmStart | None = None) -> GPFit:
        """Cluster and condition the GP (learned or configured hyperparameters) on one batch.

        Args:
            lq: (B, 3, H, W) float in [0, 1], low-light RGB.
            ref: (B, C, H, W) float in [0, 1], the reference (:meth:`reference`, clamped).
            warm: a previous fit to start from (video; see :func:`lowlight.enhance.clustered_gp.fit_clustered_gp`).

        Returns:
            :class:`lowlight.enhance.clustered_gp.GPFit` for the B images.
        """
        return fit_clustered_gp(self.gp_low(lq), ref, self.config.gp, self.learned_gp, warm)

    def forward(self, lq: Tensor, return_std: bool = False, reference: Tensor | None = None,
                gp_fit: GPFit | None = None) -> EnhanceResult:
        """Enhance a batch of same-size images.

        The reference CNN and the GP fit run on the working copy (:meth:`working_copy`); the GP
        predicts every pixel of ``lq``, or of the working copy (``EnhancerConfig.gp_resolution``).

        Args:
            lq: (B, 3, H, W) float in [0, 1], low-light RGB.
            return_std: also return the GP's posterior standard deviation map.
            reference: (B, C, h, w) the CNN's reference of the working copy to use instead of
                :meth:`reference` (video passes a temporally smoothed one).
            gp_fit: a GP already fitted to the working copy (:meth:`fit_gp`) instead of a new fit.

        Returns:
            :class:`EnhanceResult` at the size of ``lq``.
        """
        check_image(lq, 3, "lq")
        small = self.working_copy(lq)
        if reference is None:
            # one CNN call per image: convolution kernels pick their algorithm (and rounding) by
            # batch size, and a batch must give the bytes its images give one by one
            reference = torch.cat([self.reference(image) for image in small.split(1)])
        elif reference.shape[-2:] != small.shape[-2:]:
            raise ValueError(f"reference {tuple(reference.shape)} is not at the working size "
                             f"{tuple(small.shape[-2:])} of lq {tuple(lq.shape)}")
        ref_small = reference.clamp(0.0, 1.0)
        low_small, low = self.gp_low(small), self.gp_low(lq)
        scaled = small is not lq
        gates_noise = self.config.use_gp and self.config.noise_gate is not None
        blends_flat = scaled and self.config.reference_upsampling == "guided" \
            and self.config.reference_flat_gradient > 0
        gp_on_small = scaled and self.config.gp_resolution == "working"
        smooths_guide = gp_on_small and self.config.guide_noise_floor is not None
        # one noise estimate serves the flat-region blend, the guide's smoothing and the noise gate
        sigma = self._noise_sigma(lq) if blends_flat or gates_noise or smooths_guide else None
        to_full_size = partial(
            upsample_reference, low_small, lq=low, method=self.config.reference_upsampling,
            flat_gradient=self.config.reference_flat_gradient if blends_flat else 0.0,
            flat_weight=None if sigma is None else linear_ramp(sigma, *self.config.reference_flat_noise))
        gp_weight = linear_ramp(sigma, *self.config.noise_gate) if gates_noise else None  # (B, 1, 1, 1)
        runs_gp = self.config.use_gp and (gp_weight is None or bool(gp_weight.any()))
        # the full-size reference is only made when the enhancement needs it
        ref: Tensor | None = ref_small if not scaled else None
        if ref is None and (not runs_gp or not gp_on_small or gp_weight is not None):
            ref = to_full_size(ref_small)
        std = None
        if runs_gp:
            fit = self.fit_gp(small, ref_small) if gp_fit is None else gp_fit
            if gp_on_small:
                out, variance = predict_clustered_gp(fit, low_small, self.config.gp, return_std, ref_small)
                guide = low
                if smooths_guide:
                    assert sigma is not None and self.config.guide_noise_floor is not None
                    guide = smooth_noise(low, sigma, self.config.guide_noise_floor)
                out = to_full_size(out.clamp(0.0, 1.0), lq=guide)
                if variance is not None:  # not resize_image: a variance is not clamped to [0, 1]
                    variance = F.interpolate(variance, size=lq.shape[-2:], mode="bilinear", align_corners=False)
            else:
                out, variance = predict_clustered_gp(fit, low, self.config.gp, return_std, ref)
            out = out.clamp(0.0, 1.0)
            if variance is not None:
                std = variance.clamp_min(0).mean(dim=1, keepdim=True).sqrt()
            if gp_weight is not None:
                assert ref is not None
                out = torch.lerp(ref, out, gp_weight)  # one image-sized result, exact at weights 0 and 1
                std = None if std is None else gp_weight * std
        else:  # no GP, or every image clean enough to skip it
            assert ref is not None
            out = ref
            if return_std and self.config.use_gp:
                std = torch.zeros_like(ref[:, :1])
        if self.config.mode == "lm":
            out = self._colourise(lq, low, out)
        out = out.clamp(0.0, 1.0)
        if self.config.exposure_gate is not None:
            keep = exposure_weight(small, *self.config.exposure_gate)  # (B, 1, 1, 1)
            out = torch.lerp(out, lq, keep)
            if std is not None:
                std = (1 - keep) * std
        out = apply_strength(lq, out, self.config.strength)
        return EnhanceResult(keep_neutral(lq, out), partial(to_full_size, ref_small) if ref is None else ref, std)

    def _noise_sigma(self, lq: Tensor) -> Tensor:
        """(B,) the noise sigma of each image (:func:`estimate_noise_sigma` on :meth:`_noise_sample`).

        An image under 3 pixels on a side has no 3 x 3 residual to read: it counts as noisy
        (``inf``), so that the noise gate keeps the GP there, as without the gate.
        """
        sample = self._noise_sample(lq)
        if min(sample.shape[-2:]) < 3:
            return torch.full((lq.shape[0],), math.inf, device=lq.device)
        return estimate_noise_sigma(sample)

    def _noise_sample(self, lq: Tensor) -> Tensor:
        """Full-resolution pixels for the noise estimate: ``lq``, or its centre crop of working size.

        Noise is a per-pixel statistic: a crop keeps it where a downscaled copy would average it away.
        """
        side = self.config.work_size
        h, w = lq.shape[-2:]
        if side == 0 or max(h, w) <= side:
            return lq
        top, left = (h - min(h, side)) // 2, (w - min(w, side)) // 2
        return lq[..., top : top + min(h, side), left : left + min(w, side)]

    def _colourise(self, lq: Tensor, luma_in: Tensor, luma_out: Tensor) -> Tensor:
        """LM colour: (B, 3, H, W) from the enhanced luma (B, 1, H, W)."""
        if self.config.lm_colour == "carry":
            return replace_luma(lq, luma_out.clamp(0, 1))
        gain = (luma_out + _LUMA_EPS) / (luma_in + _LUMA_EPS)  # (B, 1, H, W)
        return lq * gain
