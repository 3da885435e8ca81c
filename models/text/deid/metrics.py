"""Scores of identifier detection against gold spans.

Definitions (per note, summed over notes):

- **recall** of a type: share of its gold spans whose every letter and digit lies inside some
  predicted span, of any type. A partly covered identifier ("John" of "John Smith") is a miss:
  what is left would reach the annotator.
- **typed_recall**: the same, counting only predicted spans of the gold span's type.
- **precision** of a type: share of its predicted spans that overlap a gold span (of any type).
- **token_recall**: share of gold tokens (runs of letters/digits inside gold spans) fully covered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import regex

from .types import PHI_TYPES, PhiSpan

_TOKEN = regex.compile(r"[\p{L}\p{N}]+")


def _coverage(length: int, spans: Sequence[PhiSpan], types: set[str] | None = None) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    for span in spans:
        if types is None or span.type in types:
            mask[span.start : span.end] = True
    return mask


def _covered(text: str, mask: np.ndarray, start: int, end: int) -> bool:
    return all(mask[start + m.start() : start + m.end()].all() for m in _TOKEN.finditer(text[start:end]))


def score_deid(texts: Sequence[str], gold: Sequence[Sequence[PhiSpan]], predicted: Sequence[Sequence[PhiSpan]]) -> dict:
    """Precision, recall, typed recall and token recall per identifier type and overall.

    Parameters
    ----------
    texts : sequence of str
        The notes.
    gold, predicted : sequence of sequences of PhiSpan
        Gold and predicted spans per note (same order as ``texts``).

    Returns
    -------
    dict
        ``{"overall": {...}, "per_type": {type: {...}}}`` where each entry has ``gold``,
        ``predicted``, ``precision``, ``recall``, ``typed_recall`` (overall: also ``f1`` and
        ``token_recall``). A ratio with an empty denominator is ``None``.
    """
    if not len(texts) == len(gold) == len(predicted):
        raise ValueError("texts, gold and predicted must have the same length")
    counts: dict[str, Counter[str]] = {t: Counter() for t in PHI_TYPES}
    tokens = Counter()
    for text, gold_spans, pred_spans in zip(texts, gold, predicted, strict=True):
        any_mask = _coverage(len(text), pred_spans)
        typed_masks = {t: _coverage(len(text), pred_spans, {t}) for t in {s.type for s in gold_spans}}
        for span in gold_spans:
            c = counts[span.type]
            c["gold"] += 1
            c["found"] += _covered(text, any_mask, span.start, span.end)
            c["typed"] += _covered(text, typed_masks[span.type], span.start, span.end)
            for token in _TOKEN.finditer(text[span.start : span.end]):
                tokens["gold"] += 1
                tokens["found"] += bool(any_mask[span.start + token.start() : span.start + token.end()].all())
        gold_mask = _coverage(len(text), gold_spans)
        for span in pred_spans:
            c = counts[span.type]
            c["predicted"] += 1
            c["correct"] += bool(gold_mask[span.start : span.end].any())

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    per_type = {}
    for phi_type, c in counts.items():
        if c["gold"] or c["predicted"]:
            per_type[phi_type] = {
                "gold": c["gold"],
                "predicted": c["predicted"],
                "precision": ratio(c["correct"], c["predicted"]),
                "recall": ratio(c["found"], c["gold"]),
                "typed_recall": ratio(c["typed"], c["gold"]),
            }
    total = sum(counts.values(), Counter())
    precision, recall = ratio(total["correct"], total["predicted"]), ratio(total["found"], total["gold"])
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision and recall else None
    overall = {
        "gold": total["gold"],
        "predicted": total["predicted"],
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "typed_recall": ratio(total["typed"], total["gold"]),
        "token_recall": ratio(tokens["found"], tokens["gold"]),
    }
    return {"overall": overall, "per_type": per_type}


def missed_spans(text: str, gold: Sequence[PhiSpan], predicted: Sequence[PhiSpan]) -> list[PhiSpan]:
    """Gold spans not fully covered by ``predicted`` (for error listings)."""
    mask = _coverage(len(text), predicted)
    return [s for s in gold if not _covered(text, mask, s.start, s.end)]


def false_positives(gold: Sequence[PhiSpan], predicted: Sequence[PhiSpan], length: int) -> list[PhiSpan]:
    """Predicted spans that overlap no gold span."""
    mask = _coverage(length, gold)
    return [s for s in predicted if not mask[s.start : s.end].any()]
