"""Rare-class boost: raise the priority of items the model thinks belong to rarely labelled classes.

Uncertainty sampling alone keeps asking about the classes the model already confuses, which
are often the common ones; rare classes (ventricular ectopy in ECG, rare entity types in
notes) then stay under-labelled. The boost is a per-item multiplier ``>= 1`` applied to an
uncertainty score.

Formula, with ``n_c`` the number of labels of class ``c`` so far and ``s`` the strength::

    w_c   = ((max_c' n_c' + 1) / (n_c + 1)) ** s      # >= 1; 1 for the most labelled class
    boost = sum_c p_c * w_c                            # expected weight under the prediction

So an item whose predicted mass sits on the most labelled class gets ``boost = 1``, and one
whose mass sits on a class with no labels yet gets up to ``(max_count + 1) ** s``. The ``+1``
keeps unlabelled classes finite; ``s = 0`` switches the boost off.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def rare_class_weights(class_counts: ArrayLike, strength: float = 1.0) -> NDArray[np.float64]:
    """Per-class weights ``w_c = ((max n + 1) / (n_c + 1)) ** strength``.

    Parameters
    ----------
    class_counts : array_like, shape (k,)
        Labels per class so far (``>= 0``).
    strength : float
        Exponent ``s >= 0``.

    Returns
    -------
    ndarray, shape (k,)
        Weights ``>= 1``; exactly 1 for the most labelled class(es).
    """
    n = np.asarray(class_counts, dtype=np.float64).reshape(-1)
    if n.size == 0:
        raise ValueError("class_counts must hold at least one class")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError("class_counts must be finite and >= 0")
    if not (np.isfinite(strength) and strength >= 0):
        raise ValueError(f"strength must be finite and >= 0, got {strength}")
    return ((n.max() + 1.0) / (n + 1.0)) ** strength


def rare_class_boost(proba: ArrayLike, class_counts: ArrayLike, strength: float = 1.0) -> NDArray[np.float64]:
    """Per-item multiplier ``sum_c p_c w_c`` favouring predicted mass on rare classes.

    Parameters
    ----------
    proba : array_like, shape (n, k)
        Predicted class probabilities (or, for multi-label models, per-class scores in
        ``[0, 1]``). Each row is divided by its sum first, so the boost stays in
        ``[1, max_c w_c]``; an all-zero row is an error.
    class_counts : array_like, shape (k,)
        Labels per class so far, in the column order of ``proba``.
    strength : float
        Exponent ``s >= 0`` of :func:`rare_class_weights`; 0 gives all ones.

    Returns
    -------
    ndarray, shape (n,)
        Multipliers ``>= 1`` to apply to uncertainty scores.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"proba must have shape (n, k), got {p.shape}")
    w = rare_class_weights(class_counts, strength)
    if p.shape[1] != w.size:
        raise ValueError(f"proba has {p.shape[1]} classes but class_counts has {w.size}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("proba must be finite and >= 0")
    sums = p.sum(axis=1)
    zero = np.flatnonzero(sums <= 0)
    if zero.size:
        raise ValueError(f"proba row {zero[0]} sums to 0; cannot weigh its classes")
    return np.maximum((p / sums[:, None]) @ w, 1.0)
