"""Strict span metrics for entity recognition: precision, recall and F1 per label and micro overall."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .ner import EntitySpan


def _keys(spans: Iterable[EntitySpan]) -> set[tuple[int, int, str]]:
    return {(s.start, s.end, s.label) for s in spans}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}


def span_scores(gold: Sequence[Sequence[EntitySpan]], pred: Sequence[Sequence[EntitySpan]]) -> dict[str, Any]:
    """Strict-span scores: a prediction counts only with the exact offsets and label.

    Parameters
    ----------
    gold, pred : sequence of sequences of EntitySpan
        Gold and predicted spans, one inner sequence per text (same order, same length).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (micro over all labels), ``support`` and
        ``per_label``: the same figures for each label.

    Raises
    ------
    ValueError
        If ``gold`` and ``pred`` differ in length.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold texts but {len(pred)} predicted ones")
    counts: Counter[tuple[str, str]] = Counter()
    for g, p in zip(gold, pred, strict=True):
        gk, pk = _keys(g), _keys(p)
        for _, _, label in gk & pk:
            counts["tp", label] += 1
        for _, _, label in pk - gk:
            counts["fp", label] += 1
        for _, _, label in gk - pk:
            counts["fn", label] += 1
    labels = sorted({label for _, label in counts})
    per_label = {lab: _prf(counts["tp", lab], counts["fp", lab], counts["fn", lab]) for lab in labels}
    overall = _prf(*(sum(counts[k, lab] for lab in labels) for k in ("tp", "fp", "fn")))
    return {**overall, "per_label": per_label}
