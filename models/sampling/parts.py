"""Uncertainty of one task from its scored parts, per modality (the only place this maths lives).

The loop modules (``cliniloop.services.loop.ecg``, ``eeg``, ``image``) compute model outputs; the
numbers the sampler ranks by are computed here:

* :func:`beat_window_uncertainty`: an ECG window from its beats' class probabilities.
* :func:`region_uncertainty` / :func:`regions_uncertainty`: an image from its regions' scores
  and class distributions.
* :func:`task_class_proba`: one class distribution per task (the least confident part's), so
  least confidence, margin and entropy apply to every modality.
* :func:`prediction_features`: a small fixed-length vector per task from its predicted parts,
  for k-center / clustering on modalities without a text embedding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cliniloop.models.sampling.rollup import rollup_for
from cliniloop.models.sampling.scores import binary_entropy, entropy


def beat_window_uncertainty(
    labels: Sequence[str],
    probs: Sequence[ArrayLike | None],
    confidence: Sequence[float],
    rare_classes: frozenset[str] = frozenset(),
) -> float:
    """Uncertainty of an ECG window from its beats, in ``[0, 1]``.

    ``U = max over beats of H(p)/log K`` (normalised entropy of each beat's class probabilities,
    roll-up ``ecg``); a window with a beat predicted in ``rare_classes`` is lifted to ``0.5 + U/2``
    so rare-class windows come first. Without probabilities (no classifier) ``U = 1 - min
    detector confidence``; a window without beats scores 1 (a human should look).

    Parameters
    ----------
    labels : sequence of str
        Predicted class per beat.
    probs : sequence of array_like (K,) or None
        Class probabilities per beat (``None`` when not classified).
    confidence : sequence of float
        Detector confidence per beat, in ``[0, 1]``.
    rare_classes : frozenset of str
        Classes that lift the window.
    """
    if not labels:
        return 1.0
    given = [np.asarray(p, dtype=float) for p in probs if p is not None]
    if not given:
        return float(np.clip(1.0 - min(confidence), 0.0, 1.0))
    u = rollup_for("ecg", np.concatenate([entropy(p[None, :]) for p in given]))
    if any(label in rare_classes for label in labels):
        u = 0.5 + u / 2
    return float(np.clip(u, 0.0, 1.0))


def region_uncertainty(probability: float | None, class_probs: Mapping[str, float] | None = None) -> float:
    """``max(H_b(score), H(class_probs) / log C)`` of one region, in ``[0, 1]``.

    Binary entropy (bits) of the region score (is it a finding at all?) and normalised entropy
    of its class distribution (which class?). A missing score counts as 0.5.
    """
    p = 0.5 if probability is None else float(probability)
    u = float(binary_entropy(np.array([p]))[0])
    if class_probs and len(class_probs) > 1:
        q = np.array(list(class_probs.values()), dtype=float)
        q = q / q.sum() if q.sum() > 0 else np.full(q.size, 1.0 / q.size)
        u = max(u, float(entropy(q[None, :])[0]))
    return float(np.clip(u, 0.0, 1.0))


def regions_uncertainty(regions: Sequence[tuple[float | None, Mapping[str, float] | None]]) -> float:
    """An image's uncertainty: mean of the top-5 :func:`region_uncertainty` (roll-up ``image``); 1 with no region."""
    return float(rollup_for("image", np.array([region_uncertainty(p, c) for p, c in regions], dtype=float)))


def _region_row(region: Any, classes: Sequence[str]) -> NDArray[np.float64]:
    """A region's distribution over ``classes``: its ``probs`` attribute, else its score on its label."""
    k = len(classes)
    attrs = getattr(region, "attributes", None) or {}
    probs = attrs.get("probs") if isinstance(attrs, Mapping) else None
    row = np.zeros(k)
    if probs:
        for c, v in probs.items():
            if c in classes:
                row[classes.index(c)] = float(v)
    if row.sum() <= 0:
        p = getattr(region, "probability", None)
        p = 0.5 if p is None else float(np.clip(p, 0.0, 1.0))
        label = getattr(region, "label", None)
        if label in classes and k > 1:
            row[:] = (1.0 - p) / (k - 1)
            row[classes.index(label)] = p
        else:
            row[:] = 1.0 / k
    return row / row.sum()


def task_class_proba(regions: Sequence[Any], classes: Sequence[str], task_uncertainty: float | None) -> NDArray[np.float64]:
    """One class distribution ``(K,)`` for a task: that of its least confident part.

    A part's distribution is its ``attributes["probs"]`` where the model gave one, else its
    score on its label with the rest spread evenly. A task without parts gets ``1 - U`` on the
    first class and ``U`` spread over the others (``U`` its stored uncertainty), so least
    confidence stays close to the task's own score.
    """
    classes = list(classes)
    k = max(1, len(classes))
    if not regions or not classes:
        u = 1.0 if task_uncertainty is None else float(np.clip(task_uncertainty, 0.0, 1.0))
        row = np.full(k, u / max(1, k - 1)) if k > 1 else np.ones(1)
        row[0] = 1.0 - u if k > 1 else 1.0
        return row / row.sum()
    rows = np.stack([_region_row(r, classes) for r in regions])
    return rows[int(np.argmin(rows.max(axis=1)))]


def prediction_features(regions: Sequence[Any], classes: Sequence[str], task_uncertainty: float | None) -> NDArray[np.float64]:
    """A task's feature vector from its predicted parts: class shares, mean class probabilities,
    log part count and uncertainty; shape ``(2K + 2,)``."""
    classes = list(classes)
    k = len(classes)
    counts = np.zeros(k)
    mean = np.zeros(k)
    for r in regions:
        label = getattr(r, "label", None)
        if label in classes:
            counts[classes.index(label)] += 1
        mean += _region_row(r, classes) if k else 0
    n = len(regions)
    shares = counts / n if n else counts
    mean = mean / n if n else mean
    u = 1.0 if task_uncertainty is None else float(task_uncertainty)
    return np.concatenate([shares, mean, [np.log1p(n), u]])
