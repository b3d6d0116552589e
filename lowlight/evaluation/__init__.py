"""Evaluation harness: protocols A and B of ``../shared/PROTOCOL.md``, methods, reports.

Modules: :mod:`~lowlight.evaluation.images` (the image set), :mod:`~lowlight.evaluation.method`
(a row and the run's options), :mod:`~lowlight.evaluation.learned_rows` (the learned rows as a
table of checkpoint and settings), :mod:`~lowlight.evaluation.methods` (the registry),
:mod:`~lowlight.evaluation.runner`, :mod:`~lowlight.evaluation.report`,
:mod:`~lowlight.evaluation.tracking` (W&B), :mod:`~lowlight.evaluation.cli` (``python -m
lowlight.evaluation``, ``lowlight-evaluate``), :mod:`~lowlight.evaluation.compare_checkpoints` and
:mod:`~lowlight.evaluation.gate_sweep` (the gates' thresholds, chosen on held-out training photos).
Darkening is :mod:`lowlight.protocols`; the metrics are :mod:`lowlight.metrics`.
"""
