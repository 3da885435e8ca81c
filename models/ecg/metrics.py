"""Beat classification scores against reference AAMI classes: per-class sensitivity, PPV and F1,
macro-F1 over N, S, V and F, the confusion matrix, and calibration of the class probabilities.

Used by the ECG trainer's dev check (:mod:`cliniloop.services.loop.ecg_train`), the replay harness and
``cliniloop eval ecg-classify`` (:mod:`cliniloop.services.evaluation.ecg_classify`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cliniloop.taxonomies.ecg import AAMI_CLASSES

#: Classes averaged in the macro-F1 (Q has a handful of beats in MIT-BIH: reported, not averaged).
MACRO_CLASSES: tuple[str, ...] = ("N", "S", "V", "F")
#: Equal-width confidence bins of the expected calibration error.
ECE_BINS = 15


def classification_scores(reference: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Per-class sensitivity/PPV/F1/support, accuracy, macro-F1 (N, S, V, F) and confusion matrix.

    Parameters
    ----------
    reference, predicted : sequence of str
        AAMI class letters, one per beat.
    """
    ref = np.asarray(reference)
    pred = np.asarray(predicted)
    k = len(AAMI_CLASSES)
    index = {c: i for i, c in enumerate(AAMI_CLASSES)}
    matrix = np.zeros((k, k), dtype=np.int64)
    for r, p in zip(ref, pred, strict=True):
        matrix[index[r], index[p]] += 1
    per_class: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(AAMI_CLASSES):
        tp = int(matrix[i, i])
        support = int(matrix[i].sum())
        predicted_n = int(matrix[:, i].sum())
        se = tp / support if support else None
        ppv = tp / predicted_n if predicted_n else None
        f1 = 2 * tp / (support + predicted_n) if (support + predicted_n) else None
        per_class[c] = {
            "sensitivity": _r(se),
            "ppv": _r(ppv),
            "f1": _r(f1),
            "support": support,
            "predicted": predicted_n,
        }
    total = int(matrix.sum())
    f1s = [per_class[c]["f1"] or 0.0 for c in MACRO_CLASSES]
    return {
        "per_class": per_class,
        "accuracy": _r(float(np.trace(matrix)) / total if total else None),
        "macro_f1": _r(float(np.mean(f1s))),
        "confusion": {"labels": list(AAMI_CLASSES), "matrix": matrix.tolist()},
    }


def calibration_scores(reference: Sequence[str], proba: np.ndarray) -> dict[str, Any]:
    """Expected calibration error (top class, 15 bins), mean NLL (nats) and Brier score."""
    index = {c: i for i, c in enumerate(AAMI_CLASSES)}
    y = np.array([index[r] for r in reference], dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        return {"ece": None, "nll": None, "brier": None, "bins": ECE_BINS}
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    nll = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
    onehot = np.eye(len(AAMI_CLASSES))[y]
    brier = float(((proba - onehot) ** 2).sum(axis=1).mean())
    return {"ece": _r(ece), "nll": _r(nll), "brier": _r(brier), "bins": ECE_BINS}


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
