"""The CRF entity tagger: tokens, BIO, training, span probabilities, persistence."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from cliniloop.models.text.ner import EntitySpan, LabelledText, NerTagger, NotFittedError, bio_labels, bio_spans, tokenize
from cliniloop.models.text.ner_metrics import span_scores

DRUGS = ["cisplatin", "haloperidol", "lithium", "cocaine", "heparin", "amiodarone"]
DISEASES = ["nephrotoxicity", "hypotension", "seizures", "bradycardia", "hepatitis", "proteinuria"]
TEMPLATES = [
    "Treatment with {d} induced {x} in rats.",
    "{D} caused severe {x} in two patients.",
    "We report {x} after {d} overdose.",
    "No {x} was seen with placebo.",
]


def synthetic_corpus(n: int, seed: int = 0) -> list[LabelledText]:
    """Template sentences with drug (Chemical) and disease (Disease) spans."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        tpl = TEMPLATES[i % len(TEMPLATES)]
        drug = DRUGS[rng.integers(len(DRUGS))]
        drug = drug.capitalize() if "{D}" in tpl else drug
        disease = DISEASES[rng.integers(len(DISEASES))]
        text = tpl.format(d=drug, D=drug, x=disease)
        spans = [EntitySpan(text.find(disease), text.find(disease) + len(disease), "Disease")]
        if "{d}" in tpl or "{D}" in tpl:
            spans.append(EntitySpan(text.find(drug), text.find(drug) + len(drug), "Chemical"))
        out.append(LabelledText(text, tuple(sorted(spans, key=lambda s: s.start)), doc_id=f"d{i // 5}"))
    return out


def test_tokenize_splits_letters_digits_and_symbols() -> None:
    text = "[3H]-naloxone 10mg"
    assert [text[a:b] for a, b in tokenize(text)] == ["[", "3", "H", "]", "-", "naloxone", "10", "mg"]


def test_bio_round_trip_and_stray_inside_tag() -> None:
    tokens = tokenize("alpha-methyldopa lowers blood pressure")
    tags = bio_labels(tokens, [EntitySpan(0, 16, "Chemical")])
    assert tags == ["B-Chemical", "I-Chemical", "I-Chemical", "O", "O", "O"]
    assert bio_spans(tags) == [(0, 3, "Chemical")]
    assert bio_spans(["O", "I-Disease", "I-Disease", "B-Disease"]) == [(1, 3, "Disease"), (3, 4, "Disease")]


def test_unfitted_tagger_says_so() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        NerTagger().predict_spans(["x"])


def test_fit_rejects_empty_or_entity_free_training() -> None:
    with pytest.raises(ValueError, match="zero"):
        NerTagger().fit([])
    with pytest.raises(ValueError, match="no entity"):
        NerTagger().fit([LabelledText("Nothing to see.")])


@pytest.fixture(scope="module")
def tagger() -> NerTagger:
    return NerTagger(max_iterations=60).fit(synthetic_corpus(120))


def test_tagger_learns_templates_and_gives_span_probabilities(tagger: NerTagger) -> None:
    test = synthetic_corpus(40, seed=7)
    pred = tagger.predict_spans([t.text for t in test])
    scores = span_scores([t.spans for t in test], pred)
    assert scores["f1"] > 0.95
    probs = [s.probability for spans in pred for s in spans]
    assert probs and all(0.0 < p <= 1.0 for p in probs)
    fast = tagger.predict_spans([t.text for t in test], probabilities=False)
    assert [[(s.start, s.end, s.label) for s in x] for x in fast] == [[(s.start, s.end, s.label) for s in x] for x in pred]


def test_marginals_are_distributions_and_sequence_probability_is_bounded(tagger: NerTagger) -> None:
    (a,) = tagger.analyse(["Treatment with lithium induced seizures in rats."])
    assert a.marginals.shape == (len(a.tokens), len(tagger.labels_))
    np.testing.assert_allclose(a.marginals.sum(axis=1), 1.0, atol=1e-6)
    assert 0.0 < a.sequence_probability <= 1.0
    # the probability of a span never exceeds the marginal of its weakest tag
    for span in a.spans():
        i = next(i for i, (s, _) in enumerate(a.tokens) if s == span.start)
        assert span.probability <= a.marginals[i, tagger.labels_.index("B-" + span.label)] + 1e-6
    assert tagger.analyse([""])[0].sequence_probability == 1.0


def test_unfamiliar_text_is_less_certain_than_training_like_text(tagger: NerTagger) -> None:
    known, odd = tagger.analyse(["Treatment with heparin induced hepatitis in rats.", "Zorblax and quindle were given."])
    assert known.sequence_probability > odd.sequence_probability


def test_save_load_keeps_predictions_and_version(tagger: NerTagger, tmp_path) -> None:
    tagger.save(tmp_path / "m")
    loaded = NerTagger.load(tmp_path / "m")
    text = ["Cocaine caused severe bradycardia in two patients."]
    assert loaded.version == tagger.version and loaded.version.startswith("crf-")
    assert loaded.predict_spans(text) == tagger.predict_spans(text)
    with pytest.raises(FileNotFoundError, match="tagger.json"):
        os.chmod(tmp_path / "m", stat.S_IRWXU)
        (tmp_path / "m" / "tagger.json").unlink()
        NerTagger.load(tmp_path / "m")


def test_span_scores_hand_computed() -> None:
    gold = [[EntitySpan(0, 5, "A"), EntitySpan(10, 12, "B")], [EntitySpan(3, 4, "A")]]
    pred = [[EntitySpan(0, 5, "A"), EntitySpan(10, 13, "B")], [EntitySpan(3, 4, "B")]]
    s = span_scores(gold, pred)
    assert (s["precision"], s["recall"], s["f1"]) == (round(1 / 3, 4), round(1 / 3, 4), round(1 / 3, 4))
    assert s["per_label"]["A"]["precision"] == 1.0 and s["per_label"]["A"]["recall"] == 0.5
    assert s["per_label"]["B"]["f1"] == 0.0
    with pytest.raises(ValueError, match="2 gold texts but 1"):
        span_scores(gold, pred[:1])
