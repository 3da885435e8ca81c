"""Tests of the rule-based clinical-text annotator (no dependence on ../shared)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from cliniloop.models.text import ASSERTIONS, LABELS, ClinicalTextAnnotator, Mention
from cliniloop.models.text.rules import default_rules_dir


@pytest.fixture(scope="module")
def annotator() -> ClinicalTextAnnotator:
    return ClinicalTextAnnotator().fit()


def _find(mentions: list[Mention], text: str) -> Mention:
    hits = [m for m in mentions if m.text.lower() == text.lower()]
    assert hits, f"{text!r} not found in {[m.text for m in mentions]}"
    return hits[0]


def _one(annotator: ClinicalTextAnnotator, text: str, target: str) -> Mention:
    return _find(annotator.predict([text])[0], target)


@pytest.mark.parametrize(
    ("text", "target", "assertion"),
    [
        ("No chest pain.", "chest pain", "absent"),
        ("Patient denies fever or chills.", "chills", "absent"),
        ("Possible pneumonia in the left lower lobe.", "pneumonia", "possible"),
        ("Return to the ED if fever develops.", "fever", "hypothetical"),
        ("History of MI.", "MI", "historical"),
        ("Mother had breast cancer.", "breast cancer", "family"),
        ("She has hypertension.", "hypertension", "present"),
        ("Rule out pulmonary embolism.", "pulmonary embolism", "possible"),
        ("No fever, but a productive cough.", "productive cough", "present"),
        ("Her rash has   resolved.", "rash", "absent"),
    ],
)
def test_assertions(annotator: ClinicalTextAnnotator, text: str, target: str, assertion: str) -> None:
    mention = _one(annotator, text, target)
    assert mention.assertion == assertion


@pytest.mark.parametrize(
    ("text", "target", "label"),
    [
        ("Started on metoprolol 25 mg twice daily.", "metoprolol", "Medication"),
        ("She underwent a colonoscopy last year.", "colonoscopy", "Procedure"),
        ("Chest x-ray and CBC were obtained.", "CBC", "Test"),
        ("Tenderness over the left knee.", "knee", "Anatomy"),
        ("Known CHF and COPD.", "COPD", "Problem"),
    ],
)
def test_labels_found(annotator: ClinicalTextAnnotator, text: str, target: str, label: str) -> None:
    assert _one(annotator, text, target).label == label


def test_abbreviations_are_case_sensitive(annotator: ClinicalTextAnnotator) -> None:
    mentions = annotator.predict(["He said mi casa is far."])[0]
    assert all(m.text != "mi" for m in mentions)


def test_offsets_match_text_and_fields_are_valid(annotator: ClinicalTextAnnotator) -> None:
    text = (
        "HISTORY OF PRESENT ILLNESS:\n  67 yo M with CHF,   HTN and DM who presents with chest pain.\n"
        "He denies   shortness of breath.\n\nFAMILY HISTORY: Father with diabetes.\n"
        "MEDICATIONS: aspirin 81 mg, atorvastatin 40 mg."
    )
    mentions = annotator.predict([text])[0]
    assert len(mentions) >= 6
    for m in mentions:
        assert text[m.start : m.end] == m.text
        assert m.label in LABELS and m.assertion in ASSERTIONS
        assert 0.0 < m.probability < 1.0 and 0.0 < m.assertion_probability < 1.0
        assert 0.0 < m.confidence < 1.0
        assert m.confidence == pytest.approx(m.probability * m.assertion_probability)
        assert m.sentence_index >= 0
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)
    assert _find(mentions, "shortness of breath").assertion == "absent"
    assert _find(mentions, "diabetes").section == "family_history"
    assert _find(mentions, "aspirin").section == "medications"
    assert all(m.text.lower() != "illness" for m in mentions)  # section titles are not mentions


def test_mention_is_frozen(annotator: ClinicalTextAnnotator) -> None:
    mention = _one(annotator, "No chest pain.", "chest pain")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mention.label = "Test"  # type: ignore[misc]
    assert json.dumps(mention.to_dict())


def test_predict_empty_inputs(annotator: ClinicalTextAnnotator) -> None:
    assert annotator.predict([]) == []
    assert annotator.predict(["", "   \n "]) == [[], []]


def test_predict_without_fit_builds_lazily() -> None:
    annotator = ClinicalTextAnnotator()
    assert not hasattr(annotator, "nlp_")
    assert annotator.predict([]) == []
    assert annotator.labels == LABELS and annotator.assertions == ASSERTIONS


def test_assert_condition(annotator: ClinicalTextAnnotator) -> None:
    sentence = "Extremities reveal no peripheral cyanosis or EDEMA."
    mention = annotator.assert_condition(sentence, "edema")
    assert mention is not None and mention.assertion == "absent"
    assert sentence[mention.start : mention.end] == "EDEMA"
    spaced = annotator.assert_condition("History of unusual   rashes.", "unusual rashes")
    assert spaced is not None and spaced.assertion == "historical"
    assert annotator.assert_condition("The neck is supple.", "pneumothorax") is None
    inside = annotator.assert_condition("Pharynx is pink without exudates.", "pharynx is pink without exudates")
    assert inside is not None and inside.assertion == "present"


def test_version_is_stable_and_tracks_rule_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules, ignore=shutil.ignore_patterns("curated", "*.py", "__pycache__"))
    before = ClinicalTextAnnotator(rules_dir=rules).version
    assert before.startswith("medspacy-rules-")
    assert before == ClinicalTextAnnotator(rules_dir=rules).version
    assert before == ClinicalTextAnnotator().version  # same bytes as the packaged rules
    context = rules / "context_rules.json"
    data = json.loads(context.read_text())
    data["context_rules"].append({"literal": "nary a", "category": "NEGATED_EXISTENCE", "direction": "FORWARD"})
    context.write_text(json.dumps(data))
    changed = ClinicalTextAnnotator(rules_dir=rules)
    assert changed.version != before
    fitted = changed.fit()
    assert fitted.version == changed.version
    assert _one(fitted, "Nary a fever.", "fever").assertion == "absent"
    lexicon = rules / "targets" / "test.jsonl"
    lexicon.write_text(lexicon.read_text() + '{"literal": "zzz panel", "source": "curated"}\n')
    assert ClinicalTextAnnotator(rules_dir=rules).version not in {before, fitted.version}
    assert fitted.version == fitted.version_  # a fitted model reports the rules it loaded


def test_missing_lexicons_raise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ClinicalTextAnnotator(rules_dir=tmp_path).fit()
