"""Tests of the committed lexicons and the lexicon builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliniloop.models.text.mention import LABELS
from cliniloop.models.text.rules import default_rules_dir, load_context_rules, load_targets, rule_files
from cliniloop.taxonomies.text.build_lexicons import TermFilter, _clean_icd, build_lexicons

SHARED = Path(__file__).resolve().parents[4] / "shared"


def test_committed_lexicons_are_small_and_clean() -> None:
    rules = default_rules_dir()
    files = rule_files(rules)
    assert sum(f.stat().st_size for f in files) < 3_000_000
    entries = load_targets(rules)
    assert {e.label for e in entries} == set(LABELS)
    by_label = {label: {e.literal for e in entries if e.label == label} for label in LABELS}
    assert {"CHF", "COPD", "MI", "HTN", "CABG", "CT", "MRI", "CBC"} <= {e.literal for e in entries if e.case_sensitive}
    assert {"pneumonia", "hypertension"} <= by_label["Problem"]
    assert {"aspirin", "warfarin"} <= by_label["Medication"]
    for e in entries:
        if not e.case_sensitive:
            assert len(e.literal) >= 3 and e.literal == e.literal.lower()
            assert "unspecified" not in e.literal.split()
    assert not {"no", "water", "disease", "the"} & {e.literal for e in entries}


def test_context_rules_load() -> None:
    rules = load_context_rules(default_rules_dir() / "context_rules.json")
    categories = {r.category for r in rules}
    assert {"NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HYPOTHETICAL", "HISTORICAL", "FAMILY"} <= categories
    negated = [r for r in rules if r.category == "NEGATED_EXISTENCE" and r.direction != "PSEUDO"]
    assert all("AFFIRMED_EXISTENCE" in r.terminated_by for r in negated)


def test_term_filter_and_icd_cleaning() -> None:
    filt = TermFilter({"water"}, {"of", "the", "no"})
    assert filt.ok("pneumonia") and not filt.ok("water") and not filt.ok("no")
    assert not filt.ok("of the") and not filt.ok("ab")
    assert _clean_icd("Essential (primary) hypertension") == "essential hypertension"
    assert _clean_icd("Pneumonia, unspecified organism") == "pneumonia"
    assert _clean_icd("Other specified injuries of right forearm, subsequent encounter") is None


def test_build_lexicons_without_corpora_writes_all_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliniloop.taxonomies.text import build_lexicons as mod

    monkeypatch.setattr(mod, "_offer_corpora", lambda shared, offer: None)
    sizes = build_lexicons(tmp_path, tmp_path / "out")
    assert set(sizes) == set(LABELS) and sizes["Problem"] > 5000
    row = json.loads((tmp_path / "out" / "targets" / "problem.jsonl").read_text().splitlines()[0])
    assert {"literal", "source"} <= set(row)


@pytest.mark.skipif(not (SHARED / "data" / "text" / "bc5cdr").is_dir(), reason=f"shared corpora not available under {SHARED}")
def test_build_lexicons_reproduces_committed_files(tmp_path: Path) -> None:
    sizes = build_lexicons(SHARED, tmp_path)
    committed = default_rules_dir() / "targets"
    for label in LABELS:
        name = f"{label.lower()}.jsonl"
        assert (tmp_path / "targets" / name).read_bytes() == (committed / name).read_bytes(), name
    assert sizes["Medication"] > 500
