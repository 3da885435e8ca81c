"""Hybrid entity tagger: the CRF and the transformer together, span by span.

Merge rule, per text: a span both taggers predict (same offsets, same label) is kept with the
mean of their probabilities; a span only one predicts is a candidate when its probability is at
least ``min_single_probability``. Candidates are then taken by decreasing probability, each kept
unless it overlaps one kept already. So the CRF's exact-boundary precision and the
transformer's context both vote, and a disagreement goes to the more confident model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cliniloop.services.core.labelled_text import EntitySpan, LabelledText

__all__ = ["EnsembleTagger"]


class EnsembleTagger:
    """CRF + transformer span ensemble (see the module docstring).

    Parameters
    ----------
    crf, transformer
        Taggers with ``fit`` and ``predict_spans(texts, probabilities=True)`` (a
        :class:`~cliniloop.models.text.ner.NerTagger` and a :class:`~cliniloop.models.text.ner_transformer.TransformerTagger`).
    min_single_probability : float
        Lowest probability for a span only one tagger predicts.
    """

    kind = "hybrid"

    def __init__(self, crf: Any, transformer: Any, min_single_probability: float = 0.5) -> None:
        self.crf = crf
        self.transformer = transformer
        self.min_single_probability = min_single_probability

    def fit(self, texts: Sequence[LabelledText], progress: Any = None) -> EnsembleTagger:
        """Fit both taggers on ``texts``; return ``self``."""
        self.crf.fit(texts)
        self.transformer.fit(texts, progress=progress)
        return self

    @property
    def version(self) -> str:
        """``hyb-<crf version>+<transformer version>``."""
        return f"hyb-{self.crf.version}+{self.transformer.version}"

    def merge(self, a: Sequence[EntitySpan], b: Sequence[EntitySpan]) -> list[EntitySpan]:
        """Merge the spans of one text (module docstring); result in text order."""
        def p(s: EntitySpan) -> float:
            return float(s.probability if s.probability is not None else 1.0)

        by_key_b = {(s.start, s.end, s.label): s for s in b}
        keys_a = {(s.start, s.end, s.label) for s in a}
        cands = []
        for s in a:
            other = by_key_b.get((s.start, s.end, s.label))
            if other is not None:
                cands.append(EntitySpan(s.start, s.end, s.label, round((p(s) + p(other)) / 2, 6)))
            elif p(s) >= self.min_single_probability:
                cands.append(s)
        cands += [s for s in b if (s.start, s.end, s.label) not in keys_a and p(s) >= self.min_single_probability]
        kept: list[EntitySpan] = []
        for s in sorted(cands, key=lambda s: (-p(s), s.start, s.end)):
            if all(s.end <= k.start or k.end <= s.start for k in kept):
                kept.append(s)
        return sorted(kept, key=lambda s: (s.start, s.end))

    def predict_spans(self, texts: Sequence[str], probabilities: bool = True) -> list[list[EntitySpan]]:
        """Merged spans per text (probabilities are always computed: the merge needs them)."""
        a = self.crf.predict_spans(texts, probabilities=True)
        b = self.transformer.predict_spans(texts, probabilities=True)
        out = [self.merge(x, y) for x, y in zip(a, b, strict=True)]
        if not probabilities:
            out = [[EntitySpan(s.start, s.end, s.label) for s in spans] for spans in out]
        return out

    def save(self, directory: Path) -> Path:
        """Both taggers in ``crf/`` and ``transformer/`` under ``directory``."""
        directory = Path(directory)
        self.crf.save(directory / "crf")
        self.transformer.save(directory / "transformer")
        return directory
