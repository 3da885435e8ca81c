"""Roll-ups: many region, token, beat or epoch scores of one task -> one task score.

A task (a note, an ECG window, an EEG window, an image) is labelled as a whole, but models
score its parts. The roll-up decides which tasks look hardest, so each modality uses the one
that matches how a human reviews it (:data:`MODALITY_ROLLUPS`):

``text_ner`` (sentences and notes with detected mentions)
    Mean of the top-5 region uncertainties (``topk_mean``, ``k=5``) of the binary entropy of
    each mention's confidence; this is :func:`cliniloop.models.sampling.scores.task_uncertainty`. Many
    easy mentions do not dilute the hard ones, and one borderline mention alone does not max a
    note out.
``text_tagging`` (token-level sequence tagging, e.g. BIO NER with per-token marginals)
    Sum of per-token normalised entropies (:func:`token_entropy_sum`, ``sum``). This is
    **length-favouring**: a long sentence with many mildly uncertain tokens outranks a short
    one, which is intended when annotation effort is paid per sentence, and can be offset
    with cost-aware selection (:mod:`cliniloop.models.sampling.cost`) when effort grows with length.
``ecg`` (windows of beats)
    Max over beats (``max``): one uncertain beat is enough for a cardiologist to look at the
    window. Multiply by :func:`cliniloop.models.sampling.boost.rare_class_boost` so windows whose beats
    lean towards rarely labelled classes (e.g. ventricular ectopy) rank higher.
``eeg`` (windows of epochs)
    Max over epochs (``max``): a single uncertain epoch (e.g. a possible seizure onset)
    warrants review of the window.
``image`` (regions or patches)
    Mean of the top-5 region uncertainties (``topk_mean``, ``k=5``), as for text NER.

Empty input (the model found no region, beat or epoch) rolls up to ``1.0`` for ``max``,
``mean`` and ``topk_mean`` (the model found nothing, so a human should look) and ``0.0`` for
``sum`` (no tokens, nothing to tag). These sentinels assume scores on a ``[0, 1]`` scale; pass
``empty=`` for other scales (e.g. BALD in nats).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from cliniloop.models.sampling.scores import entropy

RollupHow = Literal["max", "mean", "sum", "topk_mean"]
ROLLUP_METHODS: tuple[str, ...] = ("max", "mean", "sum", "topk_mean")

#: What an empty score list rolls up to, per method (see the module docstring).
EMPTY_ROLLUP: Mapping[str, float] = MappingProxyType({"max": 1.0, "mean": 1.0, "topk_mean": 1.0, "sum": 0.0})


def rollup(scores: ArrayLike, how: RollupHow = "max", k: int = 5, empty: float | None = None) -> float:
    """Roll per-part uncertainty scores of one task up to one task score.

    Parameters
    ----------
    scores : array_like, shape (m,)
        Uncertainty of each of the task's ``m`` parts (regions, tokens, beats, epochs);
        higher is more uncertain. Must be finite.
    how : {"max", "mean", "sum", "topk_mean"}
        ``max``: the most uncertain part. ``mean``: all parts. ``sum``: all parts added
        (grows with ``m``). ``topk_mean``: mean of the ``k`` largest (all when ``m < k``).
    k : int
        Parts averaged by ``topk_mean``; ignored otherwise. Must be ``>= 1``.
    empty : float, optional
        Value for ``m = 0``; defaults to :data:`EMPTY_ROLLUP` (1.0, or 0.0 for ``sum``).

    Returns
    -------
    float
        The task score, in the units of ``scores``.

    Raises
    ------
    ValueError
        For an unknown ``how``, ``k < 1`` or non-finite scores.
    """
    if how not in ROLLUP_METHODS:
        raise ValueError(f"unknown roll-up {how!r}; choose one of {', '.join(ROLLUP_METHODS)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        return float(EMPTY_ROLLUP[how] if empty is None else empty)
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if how == "max":
        return float(s.max())
    if how == "mean":
        return float(s.mean())
    if how == "sum":
        return float(s.sum())
    return float(np.sort(s)[::-1][:k].mean())


def token_entropy_sum(token_marginals: ArrayLike) -> float:
    """Sequence-tagging roll-up: sum over tokens of the normalised tag entropy.

    Parameters
    ----------
    token_marginals : array_like, shape (L, k)
        Per-token tag marginals ``P(y_i = c | x)`` of one sentence (e.g. from
        ``pycrfsuite.Tagger.marginal``); rows sum to 1. ``L = 0`` is allowed.

    Returns
    -------
    float
        ``sum_i H(p_i) / log k`` in ``[0, L]`` (units: "fully uncertain tokens"); 0 for an
        empty sentence. Length-favouring by design (see the module docstring).
    """
    p = np.asarray(token_marginals, dtype=np.float64)
    if p.size == 0:
        return 0.0
    return rollup(entropy(p), "sum")


@dataclass(frozen=True)
class RollupSpec:
    """How one modality rolls part scores up to a task score.

    Attributes
    ----------
    how : str
        One of :data:`ROLLUP_METHODS`.
    k : int
        ``k`` for ``topk_mean``.
    parts : str
        What the scored parts are (regions, tokens, beats, epochs).
    why : str
        One-line rationale, shown in round reports.
    """

    how: RollupHow
    k: int
    parts: str
    why: str


#: The roll-up each modality uses; see the module docstring for the reasoning.
MODALITY_ROLLUPS: Mapping[str, RollupSpec] = MappingProxyType(
    {
        "text_ner": RollupSpec("topk_mean", 5, "mention regions", "mean of the 5 most uncertain mentions"),
        "text_tagging": RollupSpec("sum", 5, "tokens", "sum of token entropies (favours long sentences)"),
        "ecg": RollupSpec("max", 5, "beats", "max over beats: one uncertain beat is enough; add rare-class boost"),
        "eeg": RollupSpec("max", 5, "epochs", "max over epochs: one uncertain epoch is enough"),
        "image": RollupSpec("topk_mean", 5, "regions", "mean of the 5 most uncertain regions"),
    }
)


def rollup_for(modality: str, scores: ArrayLike) -> float:
    """Roll up ``scores`` (shape ``(m,)``) with the roll-up documented for ``modality``.

    Raises
    ------
    ValueError
        For a modality not in :data:`MODALITY_ROLLUPS`.
    """
    spec = MODALITY_ROLLUPS.get(modality)
    if spec is None:
        raise ValueError(f"no roll-up for modality {modality!r}; known: {', '.join(MODALITY_ROLLUPS)}")
    return rollup(scores, spec.how, k=spec.k)
