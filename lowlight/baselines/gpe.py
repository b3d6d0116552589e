"""GPE (Loh, Liang & Chan 2019) rebuilt: its Y-CNN, then a GP on unique patch pairs.

GPE selects its GP training data by patch similarity (the paper, III.A): each 3 x 3 patch pair
(low-light patch, reference patch) is represented by the average intensity of its low-light
patch, and one pair is kept per distinct average (8-bit levels), so the number of training
points depends on the image (at most 256 here). The GP's core in GPE's published code is
encrypted, so this follows He & Siu's set-up it builds on (NOTES.md): SE kernel, Gaussian
likelihood, exact inference, the 3 x 3 neighbourhood as input, the reference's centre pixel as
target, marginal-likelihood-fitted hyperparameters. Colour: the input's Cb/Cr are carried over.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lowlight.gp.exact import se_gp_condition, se_gp_predict
from lowlight.gp.hyperparameters import heuristic_hyperparameters
from lowlight.gp.marginal_likelihood import (
    MarginalLikelihoodOptions,
    maximise_marginal_likelihood,
)
from lowlight.ops.checks import check_image
from lowlight.ops.color import replace_luma, rgb_to_luma
from lowlight.ops.patches import centre_index, extract_patches


def unique_intensity_pairs(low_patches: Tensor, ref_patches: Tensor, levels: int = 256) -> tuple[Tensor, Tensor]:
    """GPE's training-data selection: one patch pair per distinct average low-light intensity.

    Args:
        low_patches: (N, d) float in [0, 1], low-light patches of one image.
        ref_patches: (N, d) float, the corresponding reference patches.
        levels: the average intensity is quantised to this many levels.

    Returns:
        ``(low, ref)``: (n, d) each, the first pair (in pixel order) of each distinct level.
    """
    if low_patches.shape != ref_patches.shape or low_patches.ndim != 2:
        raise ValueError(f"expected two (N, d) tensors, got {tuple(low_patches.shape)}, {tuple(ref_patches.shape)}")
    level = (low_patches.mean(dim=1) * (levels - 1)).round().long()  # (N,)
    first = torch.full((levels,), low_patches.shape[0], dtype=torch.long, device=level.device)
    first.scatter_reduce_(0, level, torch.arange(level.numel(), device=level.device), reduce="amin")
    keep = first[first < low_patches.shape[0]]  # (n,) sorted by level
    return low_patches[keep], ref_patches[keep]


def gpe_enhance(lq: Tensor, net: nn.Module, fit_steps: int = 30) -> Tensor:
    """Enhance with GPE's pipeline.

    Args:
        lq: (B, 3, H, W) float in [0, 1].
        net: GPE's luma CNN, (B, 1, H, W) -> (B, 1, H, W), e.g. :func:`lowlight.archs.load_gpe_cnn`.
        fit_steps: marginal-likelihood steps (GPE: 100 iterations of GPML's minimize).

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    check_image(lq, 3, "lq")
    luma = rgb_to_luma(lq)  # (B, 1, H, W)
    ref = net(luma).clamp(0, 1)
    size = (3, 3)
    low_p = extract_patches(luma, size)[:, 0]  # (B, HW, 9)
    ref_p = extract_patches(ref, size)[:, 0]  # (B, HW, 9)
    centre = centre_index(size)
    outputs = []
    for b in range(lq.shape[0]):
        x, y = unique_intensity_pairs(low_p[b], ref_p[b])
        train_x, train_y = x[None], y[None, :, centre : centre + 1]  # (1, n, 9), (1, n, 1)
        hp = heuristic_hyperparameters(train_x, train_y)
        hp = maximise_marginal_likelihood(train_x, train_y, hp, MarginalLikelihoodOptions(steps=fit_steps)).hyperparameters
        state = se_gp_condition(train_x, train_y, hp)
        outputs.append(se_gp_predict(state, low_p[b : b + 1]).view(1, 1, *lq.shape[-2:]))
    return replace_luma(lq, torch.cat(outputs).clamp(0, 1))
