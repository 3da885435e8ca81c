"""Uncertainty scores: pure functions from class probabilities to one number per item.

Every function returns one score per item, shape ``(n,)``, where higher means *more
uncertain* (ask a human first). Inputs by family:

* ``proba`` of shape ``(n, k)`` (rows sum to 1): :func:`least_confidence`, :func:`margin`,
  :func:`entropy` (all in ``[0, 1]``).
* ``confidence`` of shape ``(n,)``: :func:`binary_entropy` (bits, ``[0, 1]``);
  :func:`task_uncertainty` rolls region confidences up to one task score, and
  :func:`expected_f1_error` does so with a prior count of true regions (misses counted).
* ``proba_samples`` of shape ``(T, n, k)`` from MC-dropout passes or an ensemble:
  :func:`bald` (nats, ``[0, log k]``), :func:`vote_entropy` (``[0, 1]``).
* sequence taggers: :func:`sequence_least_confidence` from best-path probabilities
  (``[0, 1]``) and :func:`mnlp` from best-path token log-probabilities (nats per token).

Roll-ups of many region or token scores to one task score live in
:mod:`cliniloop.models.sampling.rollup`.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    """Least confidence: ``1 - max_c p_c`` per row.

    Parameters
    ----------
    proba : array_like, shape (n, k)
        Class probabilities; rows sum to 1.

    Returns
    -------
    ndarray, shape (n,)
        In ``[0, 1 - 1/k]``; 0 when the model is certain.
    """
    p = _as_proba(proba)
    return 1.0 - p.max(axis=1)


def margin(proba: ArrayLike) -> NDArray[np.float64]:
    """Margin uncertainty: ``1 - (p_top1 - p_top2)`` per row.

    Parameters
    ----------
    proba : array_like, shape (n, k)
        Class probabilities; rows sum to 1.

    Returns
    -------
    ndarray, shape (n,)
        In ``[0, 1]``: 1 when the two best classes tie, 0 when one class has all the mass.
        With ``k = 1`` the score is ``1 - p``.
    """
    p = _as_proba(proba)
    if p.shape[1] == 1:
        return 1.0 - p[:, 0]
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(proba: ArrayLike) -> NDArray[np.float64]:
    """Shannon entropy per row, normalised by ``log(k)`` to ``[0, 1]``.

    Parameters
    ----------
    proba : array_like, shape (n, k)
        Class probabilities; rows sum to 1.

    Returns
    -------
    ndarray, shape (n,)
        ``-sum_c p_c log p_c / log k``: 1 for the uniform distribution, 0 for a one-hot one.
        With ``k = 1`` the raw entropy (0 for a valid row) is returned.
    """
    p = _as_proba(proba)
    k = p.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return h / np.log(k) if k > 1 else h


def binary_entropy(confidence: ArrayLike) -> NDArray[np.float64]:
    """Entropy in bits of Bernoulli(``confidence``): 0 when sure, 1 at 0.5.

    Parameters
    ----------
    confidence : array_like, shape (n,)
        Probabilities in ``[0, 1]`` that each item (e.g. a detected region) is right;
        values outside are clipped.

    Returns
    -------
    ndarray, shape (n,)
        Binary entropy in bits, in ``[0, 1]``.
    """
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

    Returns
    -------
    float
        In ``[0, 1]``; equals ``rollup(binary_entropy(c), "topk_mean", k=top_k)`` from
        :mod:`cliniloop.models.sampling.rollup`.
    """
    c = np.asarray(region_confidences, dtype=np.float64).reshape(-1)
    if c.size == 0:
        return 1.0
    h = np.sort(binary_entropy(c))[::-1][: max(1, top_k)]
    return float(np.clip(h.mean(), 0.0, 1.0))


def expected_f1_error(region_confidences: ArrayLike, expected_regions: float) -> float:
    """Expected ``1 - F1`` of a task's regions, misses included, under a prior count of true regions.

    Each region is right with probability ``c_i``, so the expected true positives are
    ``TP = sum(c_i)`` and false positives ``FP = sum(1 - c_i)``. Regions the model did not
    find cannot be scored one by one; a prior rate of true regions per unit of task size
    (mentions per token of text, beats per second of signal) gives ``expected_regions`` and
    the expected misses ``FN = max(0, expected_regions - TP)``. The score is
    ``1 - 2 TP / (2 TP + FP + FN)``: a long note where few mentions were found ranks above one
    covered by many confident mentions, while doubtful mentions still raise it. A task with
    no regions and a positive prior gets 1; an empty task with nothing found gets 0.

    Parameters
    ----------
    region_confidences : array_like, shape (m,)
        Per-region confidences in [0, 1].
    expected_regions : float
        Prior expected number of true regions in this task (>= 0).

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    c = np.clip(np.asarray(region_confidences, dtype=np.float64).reshape(-1), 0.0, 1.0)
    if not np.isfinite(expected_regions) or expected_regions < 0:
        raise ValueError(f"expected_regions must be a finite number >= 0, got {expected_regions}")
    tp = float(c.sum())
    fp = float((1.0 - c).sum())
    fn = max(0.0, float(expected_regions) - tp)
    if tp + fp + fn == 0.0:
        return 0.0
    return float(np.clip(1.0 - 2.0 * tp / (2.0 * tp + fp + fn), 0.0, 1.0))


def _as_samples(proba_samples: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(proba_samples, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] < 1 or p.shape[2] < 1:
        raise ValueError(f"proba_samples must have shape (T, n, k) with T >= 1, got {p.shape}")
    if np.any(~np.isfinite(p)) or np.any(p < -1e-9) or np.any(p > 1 + 1e-9):
        raise ValueError("proba_samples values must lie in [0, 1]")
    return np.clip(p, 0.0, 1.0)


def _entropy_nats(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shannon entropy in nats along the last axis (``0 log 0 = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -terms.sum(axis=-1)


def bald(proba_samples: ArrayLike) -> NDArray[np.float64]:
    """BALD mutual information between the label and the model parameters (Houlsby et al. 2011).

    ``I(y; w) = H(mean_t p_t) - mean_t H(p_t)``: the entropy of the averaged prediction minus
    the average entropy of each sample. It is high when the samples (MC-dropout passes or
    ensemble members) are each confident but disagree with each other, i.e. when the
    uncertainty is about the model (epistemic) rather than noise in the item itself.

    Parameters
    ----------
    proba_samples : array_like, shape (T, n, k)
        ``T`` stochastic forward passes (or ensemble members), each giving class
        probabilities for the ``n`` items over ``k`` classes; rows sum to 1.

    Returns
    -------
    ndarray, shape (n,)
        Mutual information in **nats** (natural log), in ``[0, log k]``. Unlike
        :func:`entropy` it is *not* normalised; divide by ``log(k)`` for ``[0, 1]``.
    """
    p = _as_samples(proba_samples)
    h_mean = _entropy_nats(p.mean(axis=0))
    mean_h = _entropy_nats(p).mean(axis=0)
    return np.maximum(h_mean - mean_h, 0.0)


def vote_entropy(proba_samples: ArrayLike) -> NDArray[np.float64]:
    """Committee disagreement: entropy of the members' hard votes (query by committee).

    Each of the ``T`` members votes for its ``argmax`` class (ties go to the lowest class
    index); the score is the Shannon entropy of the vote fractions, normalised by ``log(k)``
    like :func:`entropy`.

    Parameters
    ----------
    proba_samples : array_like, shape (T, n, k)
        Class probabilities from ``T`` committee members (or MC-dropout passes).

    Returns
    -------
    ndarray, shape (n,)
        In ``[0, log(min(T, k)) / log(k)]``: 0 when all members agree; 1 only when the votes
        spread evenly over all ``k`` classes (needs ``T >= k``). For ``k = 1`` all zeros.
    """
    p = _as_samples(proba_samples)
    t, n, k = p.shape
    votes = p.argmax(axis=2)  # (T, n)
    fractions = np.zeros((n, k))
    np.add.at(fractions, (np.broadcast_to(np.arange(n), (t, n)), votes), 1.0 / t)
    if k == 1:
        return np.zeros(n)
    return _entropy_nats(fractions) / np.log(k)


def sequence_least_confidence(best_sequence_proba: ArrayLike) -> NDArray[np.float64]:
    """Sequence-level least confidence for taggers: ``1 - P(best tag sequence | x)``.

    Parameters
    ----------
    best_sequence_proba : array_like, shape (n,)
        Probability of the Viterbi (best) tag sequence of each of ``n`` sentences, in
        ``[0, 1]`` (e.g. ``pycrfsuite.Tagger.probability(tagger.tag())``).

    Returns
    -------
    ndarray, shape (n,)
        In ``[0, 1]``. Long sentences have small path probabilities, so this favours them;
        use :func:`mnlp` for a length-normalised score.
    """
    p = np.asarray(best_sequence_proba, dtype=np.float64).reshape(-1)
    if np.any(~np.isfinite(p)) or np.any(p < -1e-9) or np.any(p > 1 + 1e-9):
        raise ValueError("best_sequence_proba values must lie in [0, 1]")
    return 1.0 - np.clip(p, 0.0, 1.0)


def mnlp(token_log_probs: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Maximum normalised log-probability (Shen et al. 2018), as an uncertainty.

    ``MNLP(x) = (1 / L) * sum_i log P(y*_i | x)`` over the ``L`` tokens of the best path
    ``y*``; the original selects the *lowest* MNLP, so this returns its negation, the mean
    negative log-likelihood per token, where higher means more uncertain. Dividing by ``L``
    removes the length bias of :func:`sequence_least_confidence`. For a CRF, whose path
    probability does not factor per token, pass ``[log P(y*) / L] * L`` (same mean).

    Parameters
    ----------
    token_log_probs : sequence of array_like, each shape (L_j,)
        Natural-log probabilities (``<= 0``) of the best-path tag of each token, one array
        per sentence; lengths may differ.

    Returns
    -------
    ndarray, shape (n,)
        Mean negative log-likelihood per token in **nats**, ``>= 0``. An empty sentence has
        nothing to tag and scores 0.
    """
    out = np.zeros(len(token_log_probs))
    for j, lp in enumerate(token_log_probs):
        a = np.asarray(lp, dtype=np.float64).reshape(-1)
        if np.any(np.isnan(a)) or np.any(a > 1e-9):
            raise ValueError(f"token_log_probs[{j}] must hold log-probabilities <= 0")
        out[j] = float(-np.minimum(a, 0.0).mean()) if a.size else 0.0
    return out


def score_margin(candidate_scores: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Margin uncertainty of ranked candidates whose scores are not probabilities (code candidates).

    Parameters
    ----------
    candidate_scores : sequence of array_like
        Per item, the scores of its candidates (any order, any length; scores in ``[0, 1]``).

    Returns
    -------
    ndarray, shape (n,)
        ``1 - (s1 - s2)`` with ``s1 >= s2`` the two best scores (``s2 = 0`` with one candidate),
        clipped to ``[0, 1]``; 1 for an item without candidates (nothing to go on).
    """
    out = np.ones(len(candidate_scores), dtype=np.float64)
    for i, scores in enumerate(candidate_scores):
        s = np.sort(np.asarray(scores, dtype=np.float64).ravel())[::-1]
        if s.size:
            if not np.all(np.isfinite(s)):
                raise ValueError(f"item {i}: candidate scores must be finite")
            out[i] = 1.0 - (s[0] - (s[1] if s.size > 1 else 0.0))
    return np.clip(out, 0.0, 1.0)
