"""Uncertainty scores: pure functions from class probabilities to one number per item.

Every function takes ``proba`` of shape ``(n, k)`` (rows sum to 1) and returns shape ``(n,)``,
where higher means *more uncertain* (ask a human first).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_proba(proba: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"proba must have shape (n, k), got {p.shape}")
    if np.any(p < -1e-9) or np.any(p > 1 + 1e-9):
        raise ValueError("proba values must lie in [0, 1]")
    return np.clip(p, 0.0, 1.0)


def least_confidence(proba: ArrayLike) -> NDArray[np.float64]:
    """``1 - max_k p`` per row."""
    p = _as_proba(proba)
    return 1.0 - p.max(axis=1)


def margin(proba: ArrayLike) -> NDArray[np.float64]:
    """``1 - (p_top1 - p_top2)`` per row (1 when the two best classes tie)."""
    p = _as_proba(proba)
    if p.shape[1] == 1:
        return 1.0 - p[:, 0]
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(proba: ArrayLike) -> NDArray[np.float64]:
    """Shannon entropy per row, normalised by ``log(k)`` to [0, 1]."""
    p = _as_proba(proba)
    k = p.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return h / np.log(k) if k > 1 else h


def binary_entropy(confidence: ArrayLike) -> NDArray[np.float64]:
    """Entropy in bits of Bernoulli(``confidence``): 0 when sure, 1 at 0.5."""
    c = np.clip(np.asarray(confidence, dtype=np.float64).reshape(-1), 0.0, 1.0)
    return entropy(np.stack([c, 1.0 - c], axis=1))


def task_uncertainty(region_confidences: ArrayLike, top_k: int = 5) -> float:
    """Roll region confidences up to one task-level uncertainty in [0, 1].

    ``U = mean of the top_k largest H(c_i)``, where ``c_i`` is the model's probability that
    region *i* (its extent, label and attributes) is right and ``H`` is the binary entropy in
    bits. Averaging only the most uncertain regions keeps long notes with many easy mentions
    from hiding their hard ones, while one borderline mention alone does not max a task out.
    A task with no regions gets ``U = 1``: the model found nothing, so a human should look.

    Parameters
    ----------
    region_confidences : array_like, shape (m,)
        Per-region confidences in [0, 1].
    top_k : int
        How many of the most uncertain regions to average.
    """
    c = np.asarray(region_confidences, dtype=np.float64).reshape(-1)
    if c.size == 0:
        return 1.0
    h = np.sort(binary_entropy(c))[::-1][: max(1, top_k)]
    return float(np.clip(h.mean(), 0.0, 1.0))
