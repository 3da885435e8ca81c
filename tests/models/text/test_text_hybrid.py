from __future__ import annotations

from collections.abc import Sequence

import pytest

from cliniloop.models.text import ClinicalTextAnnotator
from cliniloop.models.text.hybrid import HybridTextModel
from cliniloop.models.text.ner import EntitySpan

NOTE = "Patient denies   chest pain.\nTaking aspirin daily. Mother had breast cancer. Blood glucose normal."


@pytest.fixture(scope="module")
def rules() -> ClinicalTextAnnotator:
    # the process-wide instance: building the medspaCy pipeline takes seconds
    from cliniloop.services.loop.predict import rule_annotator

    return rule_annotator().annotator


class FakeTagger:
    """Returns fixed spans, like a trained NerTagger would."""

    version = "crf-000000000000"

    def __init__(self, spans: list[EntitySpan]) -> None:
        self.spans = spans

    def predict_spans(self, texts: Sequence[str]) -> list[list[EntitySpan]]:
        return [list(self.spans) for _ in texts]


def _span(text: str, phrase: str, label: str, p: float | None) -> EntitySpan:
    start = text.index(phrase)
    return EntitySpan(start, start + len(phrase), label, p)


def test_assert_spans_asserts_given_offsets_like_predict(rules: ClinicalTextAnnotator) -> None:
    spans = [
        (NOTE.index("breast cancer"), NOTE.index("breast cancer") + 13, "Problem"),
        (NOTE.index("chest pain"), NOTE.index("chest pain") + 10, "Problem"),
        (NOTE.index("aspirin"), NOTE.index("aspirin") + 7, "Chemical"),  # not a taxonomy label
    ]
    cancer, pain, chemical = rules.assert_spans([NOTE], [spans])[0]
    assert chemical is None
    assert (pain.start, pain.end, pain.text, pain.assertion) == (spans[1][0], spans[1][1], "chest pain", "absent")
    assert cancer.assertion == "family" and cancer.sentence_index == 2
    by_rules = {m.text: m for m in rules.predict([NOTE])[0]}
    assert by_rules["chest pain"].assertion_probability == pain.assertion_probability
    assert rules.assert_spans([], []) == []
    with pytest.raises(ValueError, match="1 texts but 0"):
        rules.assert_spans([NOTE], [])


def test_model_spans_win_rules_fill_gaps_and_assert(rules: ClinicalTextAnnotator) -> None:
    tagger = FakeTagger(
        [
            _span(NOTE, "chest", "Anatomy", 1.0),  # overlaps the rules' "chest pain": the model decides
            _span(NOTE, "breast cancer", "Problem", 0.42),
            _span(NOTE, "daily", "Dose", 0.9),  # label outside the taxonomy: dropped
        ]
    )
    model = HybridTextModel(rules, tagger)  # type: ignore[arg-type]
    assert model.version == f"{rules.version}+crf-000000000000"
    mentions = model.predict([NOTE])[0]
    got = {m.text: m for m in mentions}
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)
    assert "chest pain" not in got and got["chest"].label == "Anatomy" and got["chest"].probability == 0.99
    assert got["chest"].assertion == "absent", "the rules assert the model's span"
    assert got["breast cancer"].probability == 0.42 and got["breast cancer"].assertion == "family"
    assert "daily" not in got
    rule_only = {m.text: m for m in rules.predict([NOTE])[0]}
    assert "aspirin" in got and got["aspirin"].probability == rule_only["aspirin"].probability, "kept with its rule probability"
    assert all(m.text == NOTE[m.start : m.end] for m in mentions)

    strict = HybridTextModel(rules, tagger, keep_rule_mentions=False)  # type: ignore[arg-type]
    assert [m.text for m in strict.predict([NOTE])[0]] == ["chest", "breast cancer"]
    assert strict.predict([]) == []
