"""Evaluation rows of the project's learned methods, as data: a checkpoint and absolute settings.

Each row of :data:`LEARNED_ROWS` names a checkpoint file and the values it sets on the
enhancer's defaults (:class:`~lowlight.enhance.enhancer.EnhancerConfig` fields, and
:class:`~lowlight.enhance.clustered_gp.GPOptions` fields under ``gp``); nothing is toggled, so a
row means the same whatever the defaults. GP rows run once per ``--k``. An end-to-end checkpoint
fixes the GP layout it was trained with, so the option rows use the two-stage CNNs.

- ``cnn`` / ``cnn-y``: the two-stage RGB / luma CNN alone (``cnn-y`` carries the input's Cb/Cr);
- ``cm`` / ``lm``: the enhancer as it ships (end-to-end checkpoints, learned GP hyperparameters);
- ``cm-ng``: ``cm`` with the noise gate;
- ``cm-full``: ``cm`` at full resolution (``work_size=0``: CNN and GP fit on the whole image);
  ``cm-gain`` / ``cm-bilinear`` / ``cm-sharp``: ``cm`` with another upsampling of the working-resolution reference and output (``cm-sharp``: the plain guided filter, no flat-region blend);
  ``cm-w1024``: ``cm`` with a working size of 1024; ``cm-pixel``: ``cm`` with the GP predicting every
  full-size pixel (``gp_resolution="full"``), ``cm-rough``: ``cm`` without smoothing the noise of the
  photo that guides the output's upsampling (``guide_noise_floor=None``);
- ``cnn-v1`` / ``cm-v1-2stage`` / ``cm-v1``: the v1 RGB CNN (512 photos, 128 x 128 crops) alone,
  with the heuristic GP, and trained end to end (the defaults before v2); ``cm-ssim``: v1 CM
  trained end to end with an SSIM term;
- ``cm-2stage`` / ``lm-2stage``: the paper's two-stage training, the enhancer's defaults;
- ``cm-paper`` / ``lm-paper``: the paper's GP (low-light patch in, centre pixel out, one GP);
- one setting changed from ``cm-2stage``: ``cm-pc`` (three GPs), ``cm-xy`` (coordinates as
  inputs), ``cm-centre`` (centre-pixel target), ``cm-low`` / ``cm-ref`` (GP inputs), ``cm-p1`` /
  ``cm-p5`` (1 x 1 or 5 x 5 patches), ``lm-ratio`` (LM colour by the luma gain);
- ``gpe``: GPE's imported CNN + GP on unique patch pairs; ``gpe-cnn``: that CNN alone (both need
  ``--gpe-mat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from lowlight.enhance.checkpoints import (
    CM_SSIM,
    CM_V1,
    DEFAULT_CM,
    DEFAULT_LM,
    DEFAULT_RGB_CNN,
    DEFAULT_Y_CNN,
    RGB_CNN_V1,
)
from lowlight.enhance.clustered_gp import GPOptions
from lowlight.enhance.enhancer import SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig
from lowlight.evaluation.method import Method, MethodFactory, MethodOptions
from lowlight.ops.color import replace_luma, rgb_to_luma
from lowlight.protocols import ImageContext


@dataclass(frozen=True)
class LearnedRow:
    """A learned row: which checkpoint, and the settings it gives the enhancer.

    Attributes:
        checkpoint: the shipped file; with ``--checkpoint-dir`` the file of that name there.
        mode: ``"cm"`` or ``"lm"`` (must fit the checkpoint's CNN).
        settings: absolute :class:`EnhancerConfig` values (not ``mode`` or ``gp``).
        gp: absolute :class:`GPOptions` values (``k`` and ``seed`` come from the run).
    """

    checkpoint: Path
    mode: Literal["cm", "lm"]
    settings: dict[str, Any] = field(default_factory=dict)
    gp: dict[str, Any] = field(default_factory=dict)

    def config(self, k: int, seed: int) -> EnhancerConfig:
        """The enhancer's configuration for one ``--k``."""
        return EnhancerConfig(mode=self.mode, gp=GPOptions(k=k, seed=seed, **self.gp), **self.settings)


_PAPER_GP = {"inputs": "low", "target": "centre", "per_channel": False}

#: row name -> (checkpoint, absolute settings); see the module doc
LEARNED_ROWS: dict[str, LearnedRow] = {
    "cnn": LearnedRow(DEFAULT_RGB_CNN, "cm", {"use_gp": False}),
    "cnn-y": LearnedRow(DEFAULT_Y_CNN, "lm", {"use_gp": False}),
    "cm": LearnedRow(DEFAULT_CM, "cm"),
    "lm": LearnedRow(DEFAULT_LM, "lm"),
    "cm-2stage": LearnedRow(DEFAULT_RGB_CNN, "cm"),
    "lm-2stage": LearnedRow(DEFAULT_Y_CNN, "lm"),
    "cnn-v1": LearnedRow(RGB_CNN_V1, "cm", {"use_gp": False}),
    "cm-v1": LearnedRow(CM_V1, "cm"),
    "cm-v1-2stage": LearnedRow(RGB_CNN_V1, "cm"),
    "cm-ssim": LearnedRow(CM_SSIM, "cm"),
    "cm-ng": LearnedRow(DEFAULT_CM, "cm", {"noise_gate": SUGGESTED_NOISE_GATE}),
    "cm-full": LearnedRow(DEFAULT_CM, "cm", {"work_size": 0}),
    "cm-gain": LearnedRow(DEFAULT_CM, "cm", {"reference_upsampling": "gain"}),
    "cm-bilinear": LearnedRow(DEFAULT_CM, "cm", {"reference_upsampling": "bilinear"}),
    "cm-sharp": LearnedRow(DEFAULT_CM, "cm", {"reference_flat_gradient": 0.0}),
    "cm-w1024": LearnedRow(DEFAULT_CM, "cm", {"work_size": 1024}),
    "cm-pixel": LearnedRow(DEFAULT_CM, "cm", {"gp_resolution": "full"}),
    "cm-rough": LearnedRow(DEFAULT_CM, "cm", {"guide_noise_floor": None}),
    "cm-paper": LearnedRow(DEFAULT_RGB_CNN, "cm", gp=_PAPER_GP),
    "lm-paper": LearnedRow(DEFAULT_Y_CNN, "lm", {"lm_colour": "carry"}, gp=_PAPER_GP),
    "lm-ratio": LearnedRow(DEFAULT_Y_CNN, "lm", {"lm_colour": "ratio"}),
    "cm-pc": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"per_channel": True}),
    "cm-xy": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"coordinates": True}),
    "cm-centre": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"target": "centre"}),
    "cm-low": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"inputs": "low"}),
    "cm-ref": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"inputs": "ref"}),
    "cm-p1": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"patch": 1}),
    "cm-p5": LearnedRow(DEFAULT_RGB_CNN, "cm", gp={"patch": 5}),
}


@dataclass(frozen=True)
class EnhancerRow:
    """A method's ``enhance`` callable around an :class:`Enhancer` (kept inspectable)."""

    enhancer: Enhancer
    device: str

    def __call__(self, image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            return self.enhancer(image.to(self.device)).image


def build_learned_row(name: str, options: MethodOptions) -> list[Method]:
    """The methods of row ``name``: one per ``options.k`` for GP rows, one for a CNN alone."""
    row = LEARNED_ROWS[name]
    path = row.checkpoint if options.checkpoint_dir is None else options.checkpoint_dir / row.checkpoint.name
    uses_gp = row.settings.get("use_gp", True)
    methods = []
    for k in options.k if uses_gp else (GPOptions().k,):
        enhancer = Enhancer.from_checkpoint(row.config(k, options.seed), path, options.device)
        label = f"{name} k={k}" if uses_gp else name
        methods.append(Method(label, EnhancerRow(enhancer, options.device)))
    return methods


def _gpe_net(options: MethodOptions, row: str) -> nn.Module:
    """GPE's imported Y-CNN from ``--gpe-mat``, on the evaluation device."""
    from lowlight.archs import load_gpe_cnn

    if options.gpe_mat is None:
        raise FileNotFoundError(f"method {row} needs --gpe-mat PATH (GPE's gpe_cnnmodel.mat)")
    return load_gpe_cnn(options.gpe_mat).to(options.device)


def gpe_rows(options: MethodOptions) -> list[Method]:
    """Row ``gpe``: GPE's imported CNN and its GP on unique patch pairs."""
    from lowlight.baselines.gpe import gpe_enhance

    net = _gpe_net(options, "gpe")

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            return gpe_enhance(image.to(options.device), net)

    return [Method("gpe", enhance)]


def gpe_cnn_rows(options: MethodOptions) -> list[Method]:
    """Row ``gpe-cnn``: GPE's imported CNN alone, the input's Cb/Cr carried over."""
    net = _gpe_net(options, "gpe-cnn")

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            x = image.to(options.device)
            return replace_luma(x, net(rgb_to_luma(x)).clamp(0, 1))

    return [Method("gpe-cnn", enhance)]


def _learned_factory(name: str) -> MethodFactory:
    return lambda options: build_learned_row(name, options)


#: every learned row's factory, in the order ``--help`` lists them
LEARNED_FACTORIES: dict[str, MethodFactory] = {
    "cnn": _learned_factory("cnn"), "cnn-y": _learned_factory("cnn-y"),
    "gpe": gpe_rows, "gpe-cnn": gpe_cnn_rows,
    **{name: _learned_factory(name) for name in LEARNED_ROWS if name not in ("cnn", "cnn-y")},
}
