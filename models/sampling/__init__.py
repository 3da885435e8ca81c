"""Sampling: which items humans should label next, and when to stop.

Modules (import the one you need; nothing heavy loads with the package):

* :mod:`~cliniloop.models.sampling.scores`: per-item uncertainty (least confidence, margin, entropy,
  BALD, vote entropy, sequence scores for taggers, ``task_uncertainty``).
* :mod:`~cliniloop.models.sampling.rollup`: part scores (regions, tokens, beats, epochs) -> one task
  score, and the roll-up each modality uses.
* :mod:`~cliniloop.models.sampling.diversity`: core-set k-center, BADGE, cluster-diverse top items.
* :mod:`~cliniloop.models.sampling.cost`: annotation-cost models and cost-adjusted scores.
* :mod:`~cliniloop.models.sampling.boost`: rare-class boost multiplier.
* :mod:`~cliniloop.models.sampling.selection`: ``top_k`` and the empty/exhausted pool errors.
* :mod:`~cliniloop.models.sampling.strategies`: named strategies, ``PoolView`` and ``select``.
* :mod:`~cliniloop.models.sampling.stopping`: the stabilizing-predictions stopping rule.
"""
