"""Evaluation harness: protocols A and B of ``../shared/PROTOCOL.md``, metrics, methods, reports.

Modules: :mod:`~lowlight.evaluation.images` (the image set), :mod:`~lowlight.protocols`
(darkening and the oracle), :mod:`~lowlight.metrics.quality` (PSNR, SSIM, timing),
:mod:`~lowlight.metrics.sift` (feature retrieval), :mod:`~lowlight.evaluation.methods` (the
registry), :mod:`~lowlight.evaluation.runner`, :mod:`~lowlight.evaluation.report`,
:mod:`~lowlight.evaluation.tracking` (W&B) and :mod:`~lowlight.evaluation.cli`.
"""
