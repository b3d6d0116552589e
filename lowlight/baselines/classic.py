"""Baseline enhancers, each ``(B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float in [0, 1]``.

- :func:`dark`: the identity (the un-enhanced row).
- :func:`auto_gamma`: one global gamma from the median luma (PROTOCOL.md's reference point).
- :func:`histogram_equalization`: global histogram equalisation of the BT.601 luma (OpenCV's
  ``equalizeHist`` rule on 256 levels), chroma (Cb, Cr) kept.
- :func:`clahe`: contrast-limited adaptive equalisation of the luma (kornia), chroma kept.
- :func:`lime`: LIME (Guo, Li & Ling, "LIME: Low-light image enhancement via illumination map
  estimation", IEEE TIP 2017; ICIP 2016): illumination = max over RGB, refined by the
  structure-aware smoothing of the paper's sped-up solver, gamma-corrected, then divided out.
  No denoising (the paper's optional BM3D step is left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from torch import Tensor

from lowlight.ops.checks import check_image, check_positive
from lowlight.ops.color import replace_luma, rgb_to_luma

AUTO_GAMMA_TARGET = 0.40  # the median luma auto-gamma aims for
AUTO_GAMMA_FLOOR = 1.0 / 255.0  # median floor: an all-black median would ask for gamma = inf


def dark(x: Tensor) -> Tensor:
    """The identity (a copy): the "Dark" row of the tables.

    Args:
        x: (B, 3, H, W) float in [0, 1].

    Returns:
        (B, 3, H, W), equal to ``x``.
    """
    check_image(x, 3, "x")
    return x.clone()


def auto_gamma_exponent(x: Tensor, target: float = AUTO_GAMMA_TARGET) -> Tensor:
    """``gamma_hat = max(1, ln m / ln target)``, m the median BT.601 luma of each image.

    The median is numpy's (mean of the two middle values for an even count) and is floored at
    1/255 so that an image whose median is black gets a large but finite gamma.

    Args:
        x: (B, 3, H, W) float in [0, 1].
        target: the median luma after correction, in (0, 1).

    Returns:
        (B,) float, each >= 1.
    """
    check_image(x, 3, "x")
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    luma = rgb_to_luma(x.clamp(0.0, 1.0)).flatten(1)  # (B, H*W)
    median = torch.quantile(luma, 0.5, dim=1).clamp(min=AUTO_GAMMA_FLOOR)  # (B,)
    return (torch.log(median) / math.log(target)).clamp(min=1.0)


def auto_gamma(x: Tensor, target: float = AUTO_GAMMA_TARGET) -> Tensor:
    """Invert one global gamma estimated from the median luma: ``x ** (1 / gamma_hat)``.

    Args:
        x: (B, 3, H, W) float in [0, 1].

    Returns:
        (B, 3, H, W) float in [0, 1]; an image whose median luma is >= ``target`` is unchanged.
    """
    gamma = auto_gamma_exponent(x, target)  # (B,)
    return x.clamp(0.0, 1.0).pow(1.0 / gamma[:, None, None, None])


def equalize_luma(luma: Tensor) -> Tensor:
    """Global histogram equalisation of an 8-bit-quantised channel, OpenCV's ``equalizeHist`` rule.

    ``lut[v] = round((cdf[v] - cdf[v0]) * 255 / (N - cdf[v0]))`` with v0 the lowest occupied
    level; a constant image is returned unchanged.

    Args:
        luma: (B, 1, H, W) float in [0, 1] (rounded to 256 levels first).

    Returns:
        (B, 1, H, W) float in [0, 1], multiples of 1/255.
    """
    check_image(luma, 1, "luma")
    levels = (luma.detach().clamp(0.0, 1.0) * 255.0).round().long().flatten(1)  # (B, N)
    count = levels.shape[1]
    hist = torch.zeros(levels.shape[0], 256, dtype=torch.long, device=luma.device)
    hist.scatter_add_(1, levels, torch.ones_like(levels))  # (B, 256)
    cdf = hist.cumsum(dim=1)  # (B, 256)
    first_level = (hist > 0).long().argmax(dim=1, keepdim=True)  # (B, 1)
    cdf_first = cdf.gather(1, first_level)  # (B, 1) = hist at the lowest occupied level
    denominator = (count - cdf_first).clamp(min=1).double()
    lut = torch.round((cdf - cdf_first).double() * 255.0 / denominator).clamp(0, 255)  # (B, 256)
    constant = cdf_first.squeeze(1) == count  # (B,)
    equalized = lut.gather(1, levels) / 255.0  # (B, N)
    equalized[constant] = levels[constant].double() / 255.0
    return equalized.to(luma.dtype).view_as(luma)


def histogram_equalization(x: Tensor) -> Tensor:
    """Histogram equalisation of the BT.601 luma with Cb/Cr kept (:func:`equalize_luma`).

    Args:
        x: (B, 3, H, W) float in [0, 1].

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(x, 3, "x")
    x = x.clamp(0.0, 1.0)
    return replace_luma(x, equalize_luma(rgb_to_luma(x)))


def clahe(x: Tensor, clip_limit: float = 2.0, grid_size: tuple[int, int] = (8, 8)) -> Tensor:
    """CLAHE (``kornia.enhance.equalize_clahe``) of the BT.601 luma, Cb/Cr kept.

    The defaults are OpenCV's usual ``createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))``.

    Args:
        x: (B, 3, H, W) float in [0, 1].
        clip_limit: histogram clip, relative to the mean bin count (> 0).
        grid_size: tiles along (height, width).

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(x, 3, "x")
    check_positive(clip_limit, "clip_limit")
    x = x.clamp(0.0, 1.0)
    luma = kornia.enhance.equalize_clahe(rgb_to_luma(x), clip_limit=clip_limit, grid_size=grid_size)
    return replace_luma(x, luma.clamp(0.0, 1.0))


@dataclass(frozen=True)
class LimeOptions:
    """LIME's parameters (defaults: the paper's alpha = 0.15, gamma = 0.8, strategy III).

    Attributes:
        alpha: weight of the smoothness term.
        gamma: illumination exponent before division (``T ** gamma``).
        sigma: Gaussian sigma (px) of weighting strategy III,
            ``W_d = 1 / (|G_sigma * grad_d T_hat| + eps)``; ``None`` for strategy II,
            ``W_d = 1 / (|grad_d T_hat| + eps)``.
        eps: the small constant of the weights.
        floor: lowest illumination divided by (``R = L / max(T ** gamma, floor)``).
    """

    alpha: float = 0.15
    gamma: float = 0.8
    sigma: float | None = 2.0
    eps: float = 1e-3
    floor: float = 1e-3


def initial_illumination(x: Tensor) -> Tensor:
    """LIME's initial illumination ``T_hat = max over R, G, B``.

    Args:
        x: (B, 3, H, W) float in [0, 1].

    Returns:
        (B, 1, H, W) float in [0, 1].
    """
    check_image(x, 3, "x")
    return x.clamp(0.0, 1.0).amax(dim=1, keepdim=True)


def lime_weights(t_hat: Tensor, options: LimeOptions = LimeOptions()) -> tuple[Tensor, Tensor]:
    """Weights of the sped-up smoothness term, ``W_d / (|grad_d T_hat| + eps)`` per direction.

    Gradients are forward differences inside the image (no wrap-around).

    Args:
        t_hat: (B, 1, H, W) float, the initial illumination.
        options: LIME parameters.

    Returns:
        weights_x: (B, 1, H, W - 1) float, for differences between columns j and j + 1.
        weights_y: (B, 1, H - 1, W) float, for differences between rows i and i + 1.
    """
    check_image(t_hat, 1, "t_hat")
    grad_x = t_hat[..., :, 1:] - t_hat[..., :, :-1]  # (B, 1, H, W-1)
    grad_y = t_hat[..., 1:, :] - t_hat[..., :-1, :]  # (B, 1, H-1, W)
    return _direction_weights(grad_x, options), _direction_weights(grad_y, options)


def _direction_weights(grad: Tensor, options: LimeOptions) -> Tensor:
    if options.sigma is None:
        structure = grad.abs()
    else:
        radius = max(1, math.ceil(2.0 * options.sigma))
        size = 2 * radius + 1
        # Reflect padding needs the map to be larger than the radius; tiny maps fall back.
        if min(grad.shape[-2:]) > radius:
            blurred = kornia.filters.gaussian_blur2d(
                grad, (size, size), (options.sigma, options.sigma), border_type="reflect"
            )
        else:
            blurred = grad
        structure = blurred.abs()
    return 1.0 / ((structure + options.eps) * (grad.abs() + options.eps))


def lime_system(
    t_hat: Tensor, options: LimeOptions = LimeOptions()
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The sped-up LIME linear system ``(I + alpha * sum_d D_d^T diag(w_d) D_d) t = t_hat``.

    Pixels are numbered row-major (``n = i * W + j``).

    Args:
        t_hat: (1, 1, H, W) float, the initial illumination of one image.
        options: LIME parameters.

    Returns:
        matrix: (H*W, H*W) float64 CSR, symmetric positive definite.
        rhs: (H*W,) float64, ``t_hat`` flattened.
    """
    check_image(t_hat, 1, "t_hat")
    if t_hat.shape[0] != 1:
        raise ValueError(f"t_hat: expected one image (1, 1, H, W), got {tuple(t_hat.shape)}")
    height, width = t_hat.shape[-2:]
    weights_x, weights_y = lime_weights(t_hat.detach().double().cpu(), options)
    diff_w = _forward_difference(width)  # (W-1, W)
    diff_h = _forward_difference(height)  # (H-1, H)
    d_x = sp.kron(sp.identity(height, format="csr"), diff_w, format="csr")  # (H*(W-1), H*W)
    d_y = sp.kron(diff_h, sp.identity(width, format="csr"), format="csr")  # ((H-1)*W, H*W)
    w_x = sp.diags(weights_x.flatten().numpy())
    w_y = sp.diags(weights_y.flatten().numpy())
    smooth = d_x.T @ w_x @ d_x + d_y.T @ w_y @ d_y
    matrix = (sp.identity(height * width, format="csr") + options.alpha * smooth).tocsr()
    rhs = t_hat.detach().double().cpu().flatten().numpy()
    return matrix, rhs


def _forward_difference(n: int) -> sp.csr_matrix:
    """(n - 1, n) matrix with rows ``e_{k+1} - e_k``."""
    ones = np.ones(n - 1)
    return sp.diags([-ones, ones], [0, 1], shape=(max(n - 1, 0), n), format="csr")


def refine_illumination(t_hat: Tensor, options: LimeOptions = LimeOptions()) -> Tensor:
    """Solve LIME's sped-up smoothing problem for each image (sparse direct solve, CPU).

    Args:
        t_hat: (B, 1, H, W) float in [0, 1], the initial illumination.
        options: LIME parameters.

    Returns:
        (B, 1, H, W), device and dtype of ``t_hat``, the refined illumination.
    """
    check_image(t_hat, 1, "t_hat")
    refined = []
    for image in t_hat:
        matrix, rhs = lime_system(image[None], options)
        # The matrix is SPD: a symmetric fill-reducing order keeps the LU factor small.
        solution = spla.spsolve(matrix.tocsc(), rhs, permc_spec="MMD_AT_PLUS_A")
        refined.append(torch.from_numpy(np.asarray(solution)).view(image.shape))
    return torch.stack(refined).to(device=t_hat.device, dtype=t_hat.dtype)


def lime(x: Tensor, options: LimeOptions = LimeOptions()) -> Tensor:
    """LIME enhancement ``R = L / max(T ** gamma, floor)``, T the refined illumination.

    Args:
        x: (B, 3, H, W) float in [0, 1].
        options: LIME parameters.

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(x, 3, "x")
    for name in ("alpha", "gamma", "eps", "floor"):
        check_positive(getattr(options, name), f"options.{name}")
    x = x.clamp(0.0, 1.0)
    illumination = refine_illumination(initial_illumination(x), options).clamp(0.0, 1.0)
    divisor = illumination.pow(options.gamma).clamp(min=options.floor)  # (B, 1, H, W)
    return (x / divisor).clamp(0.0, 1.0)
