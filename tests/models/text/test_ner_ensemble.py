"""Hybrid CRF + transformer span merge: agreement averaged, disagreements to the more confident tagger."""

from __future__ import annotations

from cliniloop.models.text.ner import EntitySpan
from cliniloop.models.text.ner_ensemble import EnsembleTagger


class _Fixed:
    def __init__(self, spans: list[EntitySpan], version: str) -> None:
        self.spans, self.version = spans, version

    def predict_spans(self, texts, probabilities=True):
        return [list(self.spans) for _ in texts]


def test_merge_keeps_agreement_and_the_more_confident_side_of_a_conflict() -> None:
    crf = _Fixed([EntitySpan(0, 7, "Chemical", 0.9), EntitySpan(15, 19, "Disease", 0.6), EntitySpan(30, 35, "Disease", 0.3)], "crf-a")
    tfm = _Fixed([EntitySpan(0, 7, "Chemical", 0.7), EntitySpan(15, 25, "Disease", 0.8), EntitySpan(40, 44, "Chemical", 0.55)], "tfm-b")
    hybrid = EnsembleTagger(crf, tfm)
    spans = hybrid.predict_spans(["x"])[0]
    assert spans == [
        EntitySpan(0, 7, "Chemical", 0.8),  # both: mean probability
        EntitySpan(15, 25, "Disease", 0.8),  # overlap: the transformer was surer
        EntitySpan(40, 44, "Chemical", 0.55),  # one tagger, above 0.5
    ]  # the CRF's 0.3 span alone is dropped
    assert hybrid.predict_spans(["x"], probabilities=False)[0][0].probability is None
    assert hybrid.version == "hyb-crf-a+tfm-b"
