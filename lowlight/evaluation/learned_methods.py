"""Evaluation rows for the project's learned methods: reference CNNs, LM/CM with their GP
options, and the GPE rebuild. Registered into :mod:`lowlight.evaluation.methods`.

Rows (``--methods`` names):
- ``cnn``: the RGB reference CNN alone; ``cnn-y``: the luma CNN alone (ratio colour);
- ``cm`` / ``lm``: the enhancer as it ships (end-to-end checkpoints with learned GP
  hyperparameters), one row per ``--k``;
- ``cm-ng``: ``cm`` with the noise gate (GP only on noisy inputs, the CNN's output on clean ones);
- ``cm-ssim``: CM trained end to end with an SSIM term (``checkpoints/e2e_cm_ssim.safetensors``);
- ``cm-2stage`` / ``lm-2stage``: the paper's two-stage training (the reference CNN, then the GP
  with heuristic hyperparameters), the enhancer's other defaults unchanged;
- ``cm-paper`` / ``lm-paper``: the paper's set-up (GP input = low-light patch, one GP shared
  by the channels; LM carries the input's Cb/Cr);
- ``cm-pc`` (three GPs), ``cm-xy`` (coordinates as inputs), ``cm-patch`` / ``cm-centre``
  (patch or centre-pixel targets), ``lm-ratio`` (LM colour by the luma gain),
  ``cm-pair`` / ``cm-low`` / ``cm-ref`` (GP inputs), ``cm-p1`` / ``cm-p5`` (1 x 1 or 5 x 5
  patches): one option changed from ``cm-2stage``
  (an end-to-end file fixes the GP layout it was trained with, so option rows use the
  two-stage CNNs);
- ``gpe``: GPE's imported CNN + GP on unique patch pairs (needs ``--gpe-mat``);
  ``gpe-cnn``: GPE's imported CNN alone, the input's Cb/Cr carried over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lowlight.enhance.checkpoints import CM_SSIM, DEFAULT_CM, DEFAULT_LM, DEFAULT_RGB_CNN, DEFAULT_Y_CNN
from lowlight.ops.color import replace_luma, rgb_to_luma
from lowlight.enhance.enhancer import SUGGESTED_NOISE_GATE, Enhancer, EnhancerConfig
from lowlight.protocols import ImageContext

if TYPE_CHECKING:
    from lowlight.evaluation.methods import Method, MethodOptions

#: rows on shipped end-to-end files (``cm``/``lm``: the enhancer's defaults); every other row
#: uses the two-stage CNN of its mode
END_TO_END_FILES = {"cm": DEFAULT_CM, "lm": DEFAULT_LM, "cm-ssim": CM_SSIM, "cm-ng": DEFAULT_CM}

#: name -> (mode, how the default config is changed)
VARIANTS: dict[str, tuple[str, Callable[[EnhancerConfig], EnhancerConfig]]] = {
    "cm": ("cm", lambda c: c),
    "lm": ("lm", lambda c: c),
    "cm-2stage": ("cm", lambda c: c),
    "lm-2stage": ("lm", lambda c: c),
    "cm-ssim": ("cm", lambda c: c),
    "cm-ng": ("cm", lambda c: replace(c, noise_gate=SUGGESTED_NOISE_GATE)),
    "cm-paper": ("cm", lambda c: replace(c, gp=replace(c.gp, inputs="low", target="centre", per_channel=False))),
    "lm-paper": ("lm", lambda c: replace(c, lm_colour="carry", gp=replace(c.gp, inputs="low", target="centre"))),
    "lm-ratio": ("lm", lambda c: replace(c, lm_colour="ratio")),
    "cm-pc": ("cm", lambda c: replace(c, gp=replace(c.gp, per_channel=not c.gp.per_channel))),
    "cm-xy": ("cm", lambda c: replace(c, gp=replace(c.gp, coordinates=not c.gp.coordinates))),
    "cm-patch": ("cm", lambda c: replace(c, gp=replace(c.gp, target="patch"))),
    "cm-centre": ("cm", lambda c: replace(c, gp=replace(c.gp, target="centre"))),
    "cm-low": ("cm", lambda c: replace(c, gp=replace(c.gp, inputs="low"))),
    "cm-pair": ("cm", lambda c: replace(c, gp=replace(c.gp, inputs="pair"))),
    "cm-ref": ("cm", lambda c: replace(c, gp=replace(c.gp, inputs="ref"))),
    "cm-p1": ("cm", lambda c: replace(c, gp=replace(c.gp, patch=1))),
    "cm-p5": ("cm", lambda c: replace(c, gp=replace(c.gp, patch=5))),
}


def _checkpoint(options: MethodOptions, mode: str, row: str) -> Path:
    """The file of a row (:data:`END_TO_END_FILES`, else the two-stage CNN of ``mode``), looked up
    in ``--checkpoint-dir`` by file name when one is given."""
    default = END_TO_END_FILES.get(row, DEFAULT_Y_CNN if mode == "lm" else DEFAULT_RGB_CNN)
    return default if options.checkpoint_dir is None else options.checkpoint_dir / default.name


@dataclass(frozen=True)
class EnhancerRow:
    """A method's ``enhance`` callable around an :class:`Enhancer` (kept inspectable)."""

    enhancer: Enhancer
    device: str

    def __call__(self, image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            return self.enhancer(image.to(self.device)).image


def _variant_factory(name: str) -> Callable[[MethodOptions], list[Method]]:
    mode, change = VARIANTS[name]

    def factory(options: MethodOptions) -> list[Method]:
        from lowlight.evaluation.methods import Method

        methods = []
        for k in options.k:
            base = EnhancerConfig(mode=mode)  # type: ignore[arg-type]
            config = change(replace(base, gp=replace(base.gp, k=k, seed=options.seed)))
            path = _checkpoint(options, mode, name)
            enhancer = Enhancer.from_checkpoint(config, path, options.device)
            methods.append(Method(f"{name} k={k}", EnhancerRow(enhancer, options.device)))
        return methods

    return factory


def _cnn_factory(mode: str, name: str) -> Callable[[MethodOptions], list[Method]]:
    def factory(options: MethodOptions) -> list[Method]:
        from lowlight.evaluation.methods import Method

        config = EnhancerConfig(mode=mode, use_gp=False)  # type: ignore[arg-type]
        enhancer = Enhancer.from_checkpoint(config, _checkpoint(options, mode, name), options.device)
        return [Method(name, EnhancerRow(enhancer, options.device))]

    return factory


def _gpe_net(options: MethodOptions, row: str) -> nn.Module:
    """GPE's imported Y-CNN from ``--gpe-mat``, on the evaluation device."""
    from lowlight.archs import load_gpe_cnn

    if options.gpe_mat is None:
        raise FileNotFoundError(f"method {row} needs --gpe-mat PATH (GPE's gpe_cnnmodel.mat)")
    return load_gpe_cnn(options.gpe_mat).to(options.device)


def _gpe_factory(options: MethodOptions) -> list[Method]:
    from lowlight.evaluation.methods import Method
    from lowlight.baselines.gpe import gpe_enhance

    net = _gpe_net(options, "gpe")

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            return gpe_enhance(image.to(options.device), net)

    return [Method("gpe", enhance)]


def _gpe_cnn_factory(options: MethodOptions) -> list[Method]:
    from lowlight.evaluation.methods import Method

    net = _gpe_net(options, "gpe-cnn")

    def enhance(image: Tensor, context: ImageContext) -> Tensor:
        with torch.inference_mode():
            x = image.to(options.device)
            return replace_luma(x, net(rgb_to_luma(x)).clamp(0, 1))

    return [Method("gpe-cnn", enhance)]


def register_learned_methods() -> None:
    """Register every row above (idempotent)."""
    from lowlight.evaluation.methods import METHOD_FACTORIES, register_method

    entries: dict[str, Callable[[MethodOptions], list[Method]]] = {
        "cnn": _cnn_factory("cm", "cnn"), "cnn-y": _cnn_factory("lm", "cnn-y"), "gpe": _gpe_factory,
        "gpe-cnn": _gpe_cnn_factory,
    }
    entries.update({name: _variant_factory(name) for name in VARIANTS})
    for name, factory in entries.items():
        if name not in METHOD_FACTORIES:
            register_method(name, factory)
