"""Learning from coders' verdicts: a candidate re-ranker on ranking features.

:class:`VerdictReranker` is a logistic regression (scikit-learn) over features of one
(mention, candidate) pair, fitted on the candidate lists of mentions coders have decided (label:
the candidate is the code they chose). Its features:

* the candidate generator's score, ``1 / rank`` and the gap to the best score;
* where the candidate came from (lexical, abbreviation, SNOMED map) and whether its name says
  "unspecified" / "other" (the default leaf or a residual code);
* verdict memory beyond the exact mention: how many validated mappings chose this code and this
  3-character category (log counts), and the best word overlap (Jaccard) between the mention and
  the mentions validated to this code.

Exact mention memory (a validated normalised mention ranks its codes first) stays in
:class:`~cliniloop.models.text.code_candidates.CodeCandidateGenerator`; this model ranks the rest. It is kept
out of the service until ``cliniloop simulate --task codes`` shows it helps on mentions nobody has
coded (see the README). Nothing is fitted or imported at import time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from cliniloop.models.text.code_textnorm import basic_tokens, normalise_mention

__all__ = ["VerdictReranker", "FEATURES"]

FEATURES = (
    "score", "inv_rank", "gap_to_best", "abbreviation", "snomed_map", "unspecified", "other",
    "log_code_votes", "log_category_votes", "best_overlap",
)  # fmt: skip


def _category(code: str) -> str:
    return code[:3]


class VerdictReranker:
    """Logistic-regression re-ranker of candidate lists, fitted on verdicts.

    Parameters
    ----------
    min_verdicts : int
        Verdicts with a positive candidate needed before the model is used; until then
        :meth:`rerank` returns the lists unchanged.
    C : float
        Inverse regularisation strength of the logistic regression.
    """

    def __init__(self, min_verdicts: int = 10, C: float = 1.0) -> None:
        self.min_verdicts = min_verdicts
        self.C = C
        self.model_: Any = None
        self._code_votes: Counter = Counter()
        self._category_votes: Counter = Counter()
        self._code_mentions: dict[str, list[frozenset[str]]] = {}

    def _memory(self, verdicts: Sequence[tuple[str, str]]) -> None:
        self._code_votes = Counter(code for _, code in verdicts if code)
        self._category_votes = Counter(_category(code) for _, code in verdicts if code)
        self._code_mentions = {}
        for mention, code in verdicts:
            if code:
                self._code_mentions.setdefault(code, []).append(frozenset(basic_tokens(normalise_mention(mention))))

    def features(self, mention: str, candidates: Sequence[Any], *, exclude: tuple[str, str] | None = None) -> np.ndarray:
        """Feature rows (:data:`FEATURES`) of one mention's candidates (objects with code, display, score, source).

        ``exclude``: a ``(mention, code)`` verdict left out of the memory counts (its own, when training).
        """
        words = frozenset(basic_tokens(normalise_mention(mention)))
        best = candidates[0].score if candidates else 0.0
        rows = []
        for r, c in enumerate(candidates, start=1):
            votes = self._code_votes[c.code] - (exclude is not None and exclude[1] == c.code)
            cat = self._category_votes[_category(c.code)] - (exclude is not None and _category(exclude[1]) == _category(c.code))
            overlap = 0.0
            for other in self._code_mentions.get(c.code, []):
                if exclude is not None and exclude[1] == c.code and other == frozenset(basic_tokens(normalise_mention(exclude[0]))):
                    continue
                union = len(words | other)
                if union:
                    overlap = max(overlap, len(words & other) / union)
            display = c.display.lower()
            rows.append([
                c.score, 1.0 / r, best - c.score, float(c.source == "abbreviation"), float(c.source == "snomed-map"),
                float("unspecified" in display), float(display.startswith("other")), math.log1p(max(votes, 0)),
                math.log1p(max(cat, 0)), overlap,
            ])  # fmt: skip
        return np.asarray(rows, dtype=float).reshape(-1, len(FEATURES))

    def fit(self, decided: Sequence[tuple[str, Sequence[Any], str]]) -> VerdictReranker:
        """Fit on ``(mention, candidates, chosen code)`` triples (chosen ``""``: no candidate was right).

        Returns
        -------
        VerdictReranker
            ``self``; ``model_`` stays ``None`` with fewer than ``min_verdicts`` usable verdicts or one class only.
        """
        from sklearn.linear_model import LogisticRegression

        self._memory([(m, code) for m, _, code in decided])
        xs, ys = [], []
        usable = 0
        for mention, cands, code in decided:
            if not cands:
                continue
            x = self.features(mention, cands, exclude=(mention, code))
            y = np.asarray([c.code == code for c in cands], dtype=int)
            usable += int(y.any())
            xs.append(x)
            ys.append(y)
        self.model_ = None
        if usable < self.min_verdicts:
            return self
        x_all, y_all = np.vstack(xs), np.concatenate(ys)
        if len(set(y_all.tolist())) < 2:
            return self
        self.model_ = LogisticRegression(C=self.C, max_iter=1000).fit(x_all, y_all)
        return self

    def rerank(self, mention: str, candidates: Sequence[Any]) -> list[Any]:
        """The candidates re-ordered by the model's probability (unchanged before it is fitted)."""
        if self.model_ is None or len(candidates) < 2:
            return list(candidates)
        p = self.model_.predict_proba(self.features(mention, candidates))[:, 1]
        order = sorted(range(len(candidates)), key=lambda i: (-p[i], i))
        return [candidates[i] for i in order]
