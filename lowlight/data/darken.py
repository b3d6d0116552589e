"""Synthetic darkening for training: global gamma, uneven light, sensor noise, 8 bits.

This is the project's own randomised generator, not the evaluation's definition (that is
``../shared/PROTOCOL.md``, protocol A, and ``../shared/protocol_b.py``, protocol B). Its defaults
mix the two so that a model learns both:

- protocol A: ``D = G ** gamma`` per channel, gamma in [2, 6], then 8 bits;
- protocol B: ``D = (G ** gamma) * L`` with an uneven light field L (gamma in [1.5, 4], since L
  darkens further), Poisson shot noise and Gaussian read noise, then 8 bits;
- nearly-bright samples (gamma in [1, 1.3], no light field, no noise), because the protocols also
  score a photo that was never dark and an enhancer must leave it nearly alone.

Every random number is drawn from an explicit ``torch.Generator``; the same generator state
gives the same output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lowlight.ops.checks import check_image


@dataclass(frozen=True)
class LightFieldConfig:
    """Ranges of the random uneven illumination drawn by :func:`light_field`.

    The field is ``(ambient + (1 - ambient) * sources) * vignette``: ``sources`` in [0, 1] is the
    brightest of a few soft elliptical pools and, sometimes, a linear gradient; ``vignette``
    darkens the corners. Lengths are fractions of the image's long side.

    Attributes:
        ambient_range: light level far from every source, as protocol B's 0.05-0.3.
        pools_range: inclusive bounds on the number of soft pools per image (protocol B: 1-3).
        pool_sigma_range: each pool's standard deviation along either of its axes.
        round_pools: use one standard deviation for both axes (protocol B's pools are round).
        pool_margin: pool centres lie up to this far outside the image (protocol B: 0).
        pool_peak_range: brightness at each pool's centre.
        gradient_prob: chance of adding a linear gradient (light from one side).
        gradient_peak_range: brightness at the gradient's bright edge.
        vignette_prob: chance of darkening the corners.
        vignette_strength_range: relative light lost at the corners (must stay below 1).
    """

    ambient_range: tuple[float, float] = (0.05, 0.3)
    pools_range: tuple[int, int] = (1, 3)
    pool_sigma_range: tuple[float, float] = (0.15, 0.5)
    round_pools: bool = False
    pool_margin: float = 0.1
    pool_peak_range: tuple[float, float] = (0.6, 1.0)
    gradient_prob: float = 0.3
    gradient_peak_range: tuple[float, float] = (0.3, 1.0)
    vignette_prob: float = 0.3
    vignette_strength_range: tuple[float, float] = (0.1, 0.6)

    def __post_init__(self) -> None:
        _check_range(self.ambient_range, "ambient_range", low=0.0, high=1.0, open_low=True)
        _check_range(self.pools_range, "pools_range", low=1)
        _check_range(self.pool_sigma_range, "pool_sigma_range", low=0.0, open_low=True)
        _check_range(self.pool_peak_range, "pool_peak_range", low=0.0, high=1.0)
        if not self.pool_margin >= 0:
            raise ValueError(f"pool_margin must be >= 0, got {self.pool_margin!r}")
        _check_probability(self.gradient_prob, "gradient_prob")
        _check_range(self.gradient_peak_range, "gradient_peak_range", low=0.0, high=1.0)
        _check_probability(self.vignette_prob, "vignette_prob")
        _check_range(self.vignette_strength_range, "vignette_strength_range", low=0.0, high=1.0)
        if self.vignette_strength_range[1] >= 1.0:
            raise ValueError(
                f"vignette_strength_range must stay below 1 (the corners would get no light), "
                f"got {self.vignette_strength_range}"
            )


@dataclass(frozen=True)
class DarkeningConfig:
    """Probabilities and ranges of :func:`darken`.

    Each sample is first nearly-bright (``bright_prob``) or dark. A dark sample independently gets
    an uneven light field (``light_field_prob``) and sensor noise (``noise_prob``). Its gamma is
    drawn from ``gamma_range`` (protocol A's 2..6) without a light field and from
    ``uneven_gamma_range`` (protocol B's 1.5..4) with one. The defaults give about 10 % bright,
    45 % pure global gamma (30 % of them noisy) and 45 % uneven light (70 % noisy).

    Attributes:
        gamma_range: gamma of dark samples with even light.
        bright_prob: chance of a nearly-bright sample (no light field, no noise).
        bright_gamma_range: gamma of nearly-bright samples.
        light_field_prob: chance that a dark sample gets an uneven light field.
        uneven_gamma_range: gamma of samples with a light field.
        light: the light field's ranges.
        noise_prob: chance that an evenly lit dark sample gets Poisson-Gaussian noise.
        uneven_noise_prob: the same for a sample with a light field (protocol B is always noisy).
        photons_range: photons at full scale, drawn log-uniformly (protocol B: 300).
        read_std_range: Gaussian read-noise std in [0, 1] units, drawn uniformly (protocol B:
            0.004).
        quantize: round to 8 bits at the end, as real dark photos are stored.
    """

    gamma_range: tuple[float, float] = (2.0, 6.0)
    bright_prob: float = 0.1
    bright_gamma_range: tuple[float, float] = (1.0, 1.3)
    light_field_prob: float = 0.5
    uneven_gamma_range: tuple[float, float] = (1.5, 4.0)
    light: LightFieldConfig = field(default_factory=LightFieldConfig)
    noise_prob: float = 0.3
    uneven_noise_prob: float = 0.7
    photons_range: tuple[float, float] = (100.0, 1000.0)
    read_std_range: tuple[float, float] = (0.001, 0.008)
    quantize: bool = True

    def __post_init__(self) -> None:
        for name in ("gamma_range", "bright_gamma_range", "uneven_gamma_range"):
            _check_range(getattr(self, name), name, low=0.0, open_low=True)
        for name in ("bright_prob", "light_field_prob", "noise_prob", "uneven_noise_prob"):
            _check_probability(getattr(self, name), name)
        _check_range(self.photons_range, "photons_range", low=0.0, open_low=True)
        _check_range(self.read_std_range, "read_std_range", low=0.0)
        if not isinstance(self.light, LightFieldConfig):
            raise TypeError(f"light must be a LightFieldConfig, got {type(self.light).__name__}")


@dataclass
class DarkeningParams:
    """What :func:`darken` drew for each sample, for logging. All tensors are (B,) on CPU.

    Attributes:
        gamma: float, the exponent applied.
        bright: bool, a nearly-bright sample.
        uneven: bool, an uneven light field was applied.
        noisy: bool, sensor noise was added.
        photons: float, photons at full scale; ``inf`` where no noise was added.
        read_std: float, read-noise std; 0 where no noise was added.
    """

    gamma: Tensor
    bright: Tensor
    uneven: Tensor
    noisy: Tensor
    photons: Tensor
    read_std: Tensor


def gamma_darken(gt: Tensor, gamma: float | Tensor) -> Tensor:
    """Global gamma darkening ``D = G ** gamma``, per channel.

    Args:
        gt: (B, C, H, W) float in [0, 1], the bright image.
        gamma: a positive float, or a (B,) tensor of positive floats, one per sample.

    Returns:
        (B, C, H, W) float in [0, 1], same dtype and device as ``gt``. Differentiable in both.
    """
    check_image(gt, name="gt")
    if isinstance(gamma, Tensor):
        if gamma.shape != (gt.shape[0],):
            raise ValueError(
                f"gamma: expected a float or shape ({gt.shape[0]},), got {tuple(gamma.shape)}"
            )
        if not bool((gamma > 0).all()):
            raise ValueError(f"gamma must be > 0, got {gamma.tolist()}")
        gamma = gamma.to(gt).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    elif not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    return gt.clamp(0.0, 1.0) ** gamma


def quantize_8bit(x: Tensor) -> Tensor:
    """Round to the nearest of 256 levels: ``round(clamp(x, 0, 1) * 255) / 255``.

    Ties round half to even, as :func:`numpy.round` in the protocols. Not differentiable.

    Args:
        x: float tensor of any shape; values outside [0, 1] are clamped first.

    Returns:
        the same shape and dtype, values in {0, 1/255, ..., 1}.
    """
    if not x.is_floating_point():
        raise TypeError(f"x: expected a floating tensor, got {x.dtype}")
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def light_field(
    batch: int,
    height: int,
    width: int,
    config: LightFieldConfig,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Random smooth uneven illumination, one field per sample.

    ``(ambient + (1 - ambient) * sources) * vignette`` where ``sources`` is the pointwise maximum
    of 1..N soft rotated elliptical Gaussian pools (centres anywhere in the image, or up to
    ``config.pool_margin`` outside it) and, with ``config.gradient_prob``, a linear ramp in a
    random direction; ``vignette = 1 - strength * (r / r_corner) ** 2`` with r the distance from
    the image centre.
    The number of random draws depends only on ``batch`` and ``config``.

    Args:
        batch: number of fields B.
        height, width: their size.
        config: the ranges.
        generator: source of randomness; draws happen on its device.
        device: where the result lives (default: the generator's device).
        dtype: floating dtype of the result.

    Returns:
        (B, 1, H, W) ``dtype`` in (0, 1]: at least ``ambient * (1 - strength)``.
    """
    for value, name in ((batch, "batch"), (height, "height"), (width, "width")):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    device = generator.device if device is None else torch.device(device)
    max_pools = config.pools_range[1]
    # float32 is plenty for a smooth field; float64 only when asked for.
    work = torch.float64 if dtype == torch.float64 else torch.float32

    def draw(*shape: int, bounds: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        return _uniform(shape, bounds, generator, device, torch.float64).to(work)

    ambient = draw(batch, bounds=config.ambient_range)  # (B,)
    pool_count = config.pools_range[0] + (
        draw(batch) * (max_pools - config.pools_range[0] + 1)
    ).floor().clamp(max=max_pools - config.pools_range[0])  # (B,)
    long_side = float(max(height, width))
    extent_y, extent_x = height / long_side, width / long_side
    margin = config.pool_margin
    centre_y = draw(batch, max_pools, bounds=(-margin, extent_y + margin))  # (B, P)
    centre_x = draw(batch, max_pools, bounds=(-margin, extent_x + margin))  # (B, P)
    sigma_u = draw(batch, max_pools, bounds=config.pool_sigma_range)  # (B, P)
    sigma_v = draw(batch, max_pools, bounds=config.pool_sigma_range)  # (B, P)
    if config.round_pools:
        sigma_v = sigma_u
    angle = draw(batch, max_pools, bounds=(0.0, math.pi))  # (B, P)
    peak = draw(batch, max_pools, bounds=config.pool_peak_range)  # (B, P)
    use_gradient = draw(batch) < config.gradient_prob  # (B,)
    gradient_angle = draw(batch, bounds=(0.0, 2.0 * math.pi))  # (B,)
    gradient_peak = draw(batch, bounds=config.gradient_peak_range)  # (B,)
    use_vignette = draw(batch) < config.vignette_prob  # (B,)
    vignette_strength = draw(batch, bounds=config.vignette_strength_range)  # (B,)

    # Pixel centres in units of the long side, so pools stay round on non-square images.
    ys = (torch.arange(height, device=device, dtype=work) + 0.5) / long_side
    xs = (torch.arange(width, device=device, dtype=work) + 0.5) / long_side
    yy, xx = ys.view(1, 1, -1, 1), xs.view(1, 1, 1, -1)  # (1, 1, H, 1), (1, 1, 1, W)

    def per_pool(t: Tensor) -> Tensor:
        return t.view(batch, max_pools, 1, 1)  # (B, P, 1, 1)

    dy, dx = yy - per_pool(centre_y), xx - per_pool(centre_x)  # (B, P, H, W) by broadcasting
    cos, sin = per_pool(angle.cos()), per_pool(angle.sin())
    along, across = dy * cos + dx * sin, -dy * sin + dx * cos
    pools = per_pool(peak) * torch.exp(
        -0.5 * ((along / per_pool(sigma_u)) ** 2 + (across / per_pool(sigma_v)) ** 2)
    )  # (B, P, H, W)
    active = torch.arange(max_pools, device=device).view(1, -1) < pool_count.view(-1, 1)  # (B, P)
    sources = (pools * per_pool(active.to(work))).amax(dim=1)  # (B, H, W)

    projection = (yy * gradient_angle.sin().view(-1, 1, 1, 1)
                  + xx * gradient_angle.cos().view(-1, 1, 1, 1))[:, 0]  # (B, H, W)
    low = projection.amin(dim=(1, 2), keepdim=True)
    span = (projection.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-12)
    ramp = (projection - low) / span * gradient_peak.view(-1, 1, 1)  # (B, H, W) in [0, peak]
    sources = torch.where(use_gradient.view(-1, 1, 1), torch.maximum(sources, ramp), sources)

    radius2 = (yy[:, 0] - extent_y / 2) ** 2 + (xx[:, 0] - extent_x / 2) ** 2  # (1, H, W)
    radius2 = radius2 / ((extent_y / 2) ** 2 + (extent_x / 2) ** 2)  # 1 at the corners
    strength = torch.where(use_vignette, vignette_strength, torch.zeros_like(vignette_strength))
    vignette = 1.0 - strength.view(-1, 1, 1) * radius2  # (B, H, W)

    ambient = ambient.view(-1, 1, 1)
    illumination = (ambient + (1.0 - ambient) * sources) * vignette  # (B, H, W)
    return illumination.unsqueeze(1).to(dtype)  # (B, 1, H, W)


def poisson_gaussian_noise(
    clean: Tensor,
    photons: float | Tensor,
    read_std: float | Tensor,
    generator: torch.Generator,
) -> Tensor:
    """Sensor noise: ``Poisson(clean * photons) / photons + Normal(0, read_std)``.

    Mean ``clean``, variance ``clean / photons + read_std ** 2``. Not clamped: the caller decides
    (an 8-bit file clamps to [0, 1]).

    Args:
        clean: (B, C, H, W) float in [0, 1], the noise-free signal.
        photons: photons at full scale (> 0, finite), a float or a (B,) tensor.
        read_std: Gaussian read-noise std (>= 0), a float or a (B,) tensor.
        generator: source of randomness; draws happen on its device.

    Returns:
        (B, C, H, W) same dtype and device as ``clean``, unclamped.
    """
    check_image(clean, name="clean")
    batch = clean.shape[0]
    photons = _per_sample(photons, batch, "photons", clean)  # (B, 1, 1, 1)
    read_std = _per_sample(read_std, batch, "read_std", clean)  # (B, 1, 1, 1)
    if not bool(((photons > 0) & photons.isfinite()).all()):
        raise ValueError(f"photons must be finite and > 0, got {photons.flatten().tolist()}")
    if not bool((read_std >= 0).all()):
        raise ValueError(f"read_std must be >= 0, got {read_std.flatten().tolist()}")
    rate = (clean.clamp_min(0.0) * photons).to(generator.device)
    counts = torch.poisson(rate, generator=generator).to(clean.device)
    gaussian = torch.randn(
        clean.shape, generator=generator, device=generator.device, dtype=clean.dtype
    ).to(clean.device)
    return counts / photons + read_std * gaussian


def darken(
    gt: Tensor, config: DarkeningConfig, generator: torch.Generator
) -> tuple[Tensor, DarkeningParams]:
    """Randomly darken a batch of bright images, each sample with its own draw.

    ``D = quantize((G ** gamma) * L + noise)``, L and the noise only where drawn (see
    :class:`DarkeningConfig`). The result is a function of ``gt``, ``config`` and the
    generator's state. Light fields and noise are computed for the whole batch, and only when
    some sample needs them.

    Args:
        gt: (B, 3, H, W) float in [0, 1], the bright images.
        config: probabilities and ranges.
        generator: source of randomness; draws happen on its device, the result on ``gt``'s.

    Returns:
        lq: (B, 3, H, W) same dtype and device as ``gt``, in [0, 1] (8-bit levels if
        ``config.quantize``).
        params: the per-sample draws.
    """
    check_image(gt, 3, "gt")
    batch, _, height, width = gt.shape

    def draw(bounds: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        return _uniform((batch,), bounds, generator, generator.device, torch.float64).cpu()

    bright = draw() < config.bright_prob  # (B,)
    uneven = ~bright & (draw() < config.light_field_prob)
    noise_draw = draw()
    noisy = ~bright & torch.where(
        uneven, noise_draw < config.uneven_noise_prob, noise_draw < config.noise_prob
    )
    position = draw()  # where in its category's gamma range each sample falls
    gamma = torch.empty(batch, dtype=torch.float64)
    for mask, (low, high) in (
        (bright, config.bright_gamma_range),
        (~bright & ~uneven, config.gamma_range),
        (uneven, config.uneven_gamma_range),
    ):
        gamma = torch.where(mask, low + (high - low) * position, gamma)
    log_low, log_high = (math.log(v) for v in config.photons_range)
    photons = draw((log_low, log_high)).exp()
    read_std = draw(config.read_std_range)

    lq = gamma_darken(gt, gamma)
    if uneven.any():
        light = light_field(
            batch, height, width, config.light, generator, device=gt.device, dtype=gt.dtype
        )  # (B, 1, H, W)
        lq = torch.where(uneven.to(gt.device).view(-1, 1, 1, 1), lq * light, lq)
    if noisy.any():
        noisy_lq = poisson_gaussian_noise(lq, photons, read_std, generator)
        lq = torch.where(noisy.to(gt.device).view(-1, 1, 1, 1), noisy_lq, lq)
    lq = lq.clamp(0.0, 1.0)
    if config.quantize:
        lq = quantize_8bit(lq)

    params = DarkeningParams(
        gamma=gamma.to(torch.float32),
        bright=bright,
        uneven=uneven,
        noisy=noisy,
        photons=torch.where(noisy, photons, torch.full_like(photons, math.inf)).to(torch.float32),
        read_std=torch.where(noisy, read_std, torch.zeros_like(read_std)).to(torch.float32),
    )
    return lq, params


def _uniform(
    shape: tuple[int, ...],
    bounds: tuple[float, float],
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """Uniform draws in [low, high), on the generator's device, then moved to ``device``."""
    low, high = bounds
    unit = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    return (low + (high - low) * unit).to(device)


def _per_sample(value: float | Tensor, batch: int, name: str, like: Tensor) -> Tensor:
    """A float or (B,) tensor -> (B, 1, 1, 1) in ``like``'s dtype and device."""
    if isinstance(value, Tensor):
        if value.shape != (batch,):
            raise ValueError(
                f"{name}: expected a float or shape ({batch},), got {tuple(value.shape)}"
            )
        return value.to(like).view(-1, 1, 1, 1)
    return torch.full((batch, 1, 1, 1), float(value), dtype=like.dtype, device=like.device)


def _check_probability(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def _check_range(
    bounds: tuple[float, float],
    name: str,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
) -> None:
    """Raise unless ``bounds`` is (lo, hi) with lo <= hi inside [low, high] (or (low, high])."""
    if len(bounds) != 2 or bounds[0] > bounds[1]:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {bounds!r}")
    if low is not None and (bounds[0] < low or (open_low and bounds[0] == low)):
        sign = ">" if open_low else ">="
        raise ValueError(f"{name} must be {sign} {low}, got {bounds!r}")
    if high is not None and bounds[1] > high:
        raise ValueError(f"{name} must be <= {high}, got {bounds!r}")
