"""Stopping rule: stop labelling when successive models' predictions have stabilised.

Criterion ("stabilizing predictions", Bloodgood & Vijay-Shanker 2009)
---------------------------------------------------------------------
1. Once, before the first round, draw a fixed **stop set** of unlabelled items
   (:func:`stop_set`). It is never labelled and never changes, and needs no human labels.
2. After each round, the newly trained model predicts the stop set, and its predictions are
   compared with the previous round's model: Cohen's kappa over item labels
   (:func:`agreement`), or for span tasks the F1 between the two models' span sets
   (:func:`span_agreement`) or kappa over per-token tags (:func:`token_tag_agreement`).
3. Stop when the **mean agreement over the last** ``window`` **(default 3) rounds is at least**
   ``threshold`` **(default 0.99)** (:class:`StoppingRule`). Until ``window`` agreements
   exist the rule never stops.

Rationale: when extra labels no longer change what the model predicts on unseen data, more
labelling buys little; the stop set needs no labels, so the rule costs nothing to run.
Kappa corrects for chance agreement, so a model that predicts the majority class everywhere
in two rounds does not count as stable unless its predictions are literally identical.
Lower ``threshold`` (e.g. 0.95) to stop earlier at some risk of stopping too soon.

Conventions: kappa is defined as 1 when both label lists are constant and identical (sklearn
returns NaN there: chance agreement is already 1); span F1 is 1 when neither model predicts
any span. Kappa over BIO tags is dominated by the ``O`` tag; prefer :func:`span_agreement`
for NER.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def agreement(previous_labels: Sequence[Hashable], current_labels: Sequence[Hashable]) -> float:
    """Cohen's kappa between two models' labels for the same stop-set items.

    Parameters
    ----------
    previous_labels, current_labels : sequence of hashable, length n
        Predicted label of each stop-set item by the previous and the current model (any
        hashable labels: str, int, tuples for multi-label sets).

    Returns
    -------
    float
        Kappa in ``[-1, 1]``; 1 when both lists are constant and identical.

    Raises
    ------
    ValueError
        When the lists differ in length or are empty.
    """
    prev, cur = list(previous_labels), list(current_labels)
    if len(prev) != len(cur):
        raise ValueError(f"{len(prev)} previous labels but {len(cur)} current labels")
    if not prev:
        raise ValueError("agreement needs at least one stop-set item")
    codes: dict[Hashable, int] = {}
    a = [codes.setdefault(x, len(codes)) for x in prev]
    b = [codes.setdefault(x, len(codes)) for x in cur]
    if a == b:
        return 1.0
    from cliniloop.models.quality.agreement import cohen_kappa

    kappa = cohen_kappa([str(x) for x in a], [str(x) for x in b])
    return 0.0 if kappa is None else kappa  # never None: the lists are non-empty


def span_agreement(
    previous_spans_per_text: Sequence[Iterable[Hashable]],
    current_spans_per_text: Sequence[Iterable[Hashable]],
) -> float:
    """F1 agreement between two models' span predictions on the same stop-set texts.

    Each span (e.g. ``(start, end, label)``) is keyed by its text, and the agreement is
    ``2 |A ∩ B| / (|A| + |B|)`` over all texts, where ``A`` and ``B`` are the previous and
    current (text, span) sets. F1 is symmetric, so neither model is treated as gold.

    Parameters
    ----------
    previous_spans_per_text, current_spans_per_text : sequence of iterable of hashable
        One collection of spans per stop-set text, same texts in the same order.

    Returns
    -------
    float
        In ``[0, 1]``; 1 when neither model predicts any span.
    """
    if len(previous_spans_per_text) != len(current_spans_per_text):
        raise ValueError(f"{len(previous_spans_per_text)} previous texts but {len(current_spans_per_text)} current texts")
    a = {(t, s) for t, spans in enumerate(previous_spans_per_text) for s in spans}
    b = {(t, s) for t, spans in enumerate(current_spans_per_text) for s in spans}
    if not a and not b:
        return 1.0
    return 2.0 * len(a & b) / (len(a) + len(b))


def token_tag_agreement(
    previous_tags_per_text: Sequence[Sequence[Hashable]],
    current_tags_per_text: Sequence[Sequence[Hashable]],
) -> float:
    """Cohen's kappa over per-token tags (e.g. BIO) of the same stop-set texts.

    Parameters
    ----------
    previous_tags_per_text, current_tags_per_text : sequence of sequence of hashable
        Per text, one tag per token; both models must tag the same tokens.

    Returns
    -------
    float
        :func:`agreement` over all tokens of all texts.

    Raises
    ------
    ValueError
        Naming the first text whose token counts differ, or when there are no tokens.
    """
    if len(previous_tags_per_text) != len(current_tags_per_text):
        raise ValueError(f"{len(previous_tags_per_text)} previous texts but {len(current_tags_per_text)} current texts")
    prev: list[Hashable] = []
    cur: list[Hashable] = []
    for t, (p, c) in enumerate(zip(previous_tags_per_text, current_tags_per_text, strict=True)):
        if len(p) != len(c):
            raise ValueError(f"text {t}: {len(p)} previous tags but {len(c)} current tags")
        prev.extend(p)
        cur.extend(c)
    return agreement(prev, cur)


def stop_set(ids: Iterable[str], size: int, seed: int = 0) -> list[str]:
    """Draw the fixed stop set: ``size`` ids uniformly at random, returned in id order.

    The draw depends only on the set of ids and ``seed`` (ids are sorted first). All ids
    come back when there are at most ``size``.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    pool = sorted(set(ids))
    if len(pool) <= size:
        return pool
    idx = np.random.default_rng(seed).choice(len(pool), size=size, replace=False)
    return [pool[i] for i in sorted(idx)]


@dataclass(frozen=True)
class StopDecision:
    """The stopping rule's verdict after one round.

    Attributes
    ----------
    should_stop : bool
        True once the mean of the last ``window`` agreements reaches the threshold.
    kappa : float
        This round's agreement with the previous model.
    mean_recent : float
        Mean of the last ``window`` agreements (of all so far while fewer exist).
    reason : str
        One sentence for the round report.
    """

    should_stop: bool
    kappa: float
    mean_recent: float
    reason: str


class StoppingRule:
    """Stabilizing-predictions stopping rule (see the module docstring).

    Parameters
    ----------
    threshold : float
        Stop when the mean recent agreement is ``>= threshold``; in ``(-1, 1]``.
    window : int
        Number of most recent agreements averaged, ``>= 1``.

    Examples
    --------
    >>> rule = StoppingRule(threshold=0.99, window=3)
    >>> [rule.update(k).should_stop for k in (0.90, 0.995, 0.99, 0.995)]
    [False, False, False, True]
    """

    def __init__(self, threshold: float = 0.99, window: int = 3) -> None:
        if not -1.0 < threshold <= 1.0:
            raise ValueError(f"threshold must lie in (-1, 1], got {threshold}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.threshold = float(threshold)
        self.window = int(window)
        self._history: list[float] = []

    @property
    def history(self) -> tuple[float, ...]:
        """Every agreement passed to :meth:`update`, oldest first."""
        return tuple(self._history)

    def describe(self) -> str:
        """The criterion in one sentence, for round reports."""
        return (
            f"Stop when the mean agreement (Cohen's kappa, or span F1) between successive models' predictions "
            f"on the fixed stop set over the last {self.window} rounds is >= {self.threshold:g} "
            "(stabilizing predictions, Bloodgood & Vijay-Shanker 2009)."
        )

    def update(self, kappa: float) -> StopDecision:
        """Record this round's agreement and decide whether to stop.

        Parameters
        ----------
        kappa : float
            Agreement in ``[-1, 1]`` between this round's and the previous round's model.

        Returns
        -------
        StopDecision
        """
        k = float(kappa)
        if not -1.0 <= k <= 1.0:
            raise ValueError(f"agreement must lie in [-1, 1], got {kappa}")
        self._history.append(k)
        recent = self._history[-self.window :]
        mean = float(np.mean(recent))
        if len(recent) < self.window:
            return StopDecision(
                False, k, mean, f"need {self.window} agreements to decide, have {len(recent)}: keep labelling"
            )
        stop = mean >= self.threshold - 1e-12  # three rounds of exactly 0.99 average to 0.98999...
        verdict = "predictions have stabilised: stop" if stop else "keep labelling"
        sign = ">=" if stop else "<"
        return StopDecision(
            stop, k, mean, f"mean agreement over the last {self.window} rounds {mean:.4f} {sign} {self.threshold:g}: {verdict}"
        )
