"""Sense before search: typed abbreviations follow the mention type; unsaid code-changing modifiers demote a code."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.models.text.code_candidates import CodeCandidateGenerator
from cliniloop.models.text.code_sense import MODIFIERS, SenseExpander, load_typed_abbreviations, modifier_bits, modifier_masks
from cliniloop.taxonomies.codes.system import CodeSystem, Concept


def test_typed_list_loads_and_the_type_picks_the_sense() -> None:
    sense = SenseExpander(load_typed_abbreviations())
    assert sense.variants("CT head", "Test") == ["computed tomography head"]
    assert sense.variants("CT head", "Problem") == [] and sense.variants("CT head", None) == [], "untyped is read as a Problem"
    assert sense.variants("Ca", "Test") == ["calcium"]
    assert sense.variants("breast Ca", "Problem") == ["breast cancer"] == sense.variants("breast Ca", None)
    assert sense.variants("ASA 81 mg", "Medication") == ["aspirin 81 mg"]
    assert sense.variants("ct", "Test") == [], "'CT' is exact case: 'ct' is not expanded"


@pytest.mark.parametrize(
    ("text", "message"),
    [("CT\tcomputed tomography\texact\n", r"t\.tsv:1: expected 4 tab-separated columns"),
     ("CT\tcomputed tomography\tsome\ttest\n", r"t\.tsv:1: case must be"),
     ("CT\tcomputed tomography\texact\tgene\n", r"t\.tsv:1: types must be some of")],
)  # fmt: skip
def test_bad_typed_list_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.tsv").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_typed_abbreviations(tmp_path / "t.tsv")


def test_modifier_bits() -> None:
    assert modifier_bits(["Carcinoma in situ of cervix"]) == 1 << MODIFIERS.index("situ")
    assert modifier_bits(["Nontraumatic subarachnoid hemorrhage"]) == 0, "'nontraumatic' is not 'traumatic'"
    assert list(modifier_masks(["Traumatic subarachnoid hemorrhage", "Subarachnoid hemorrhage"])) == [1 << MODIFIERS.index("traumatic"), 0]


def _tiny() -> CodeSystem:
    concepts = [
        Concept("D06.9", "Carcinoma in situ of cervix, unspecified"),
        Concept("C53.9", "Carcinoma of cervix uteri, unspecified"),
        Concept("S06.6X0A", "Traumatic subarachnoid hemorrhage"),
        Concept("I60.9", "Subarachnoid hemorrhage, unspecified"),
        Concept("R93.0", "Abnormal findings on computed tomography of head"),
        Concept("Q87.88", "CTNNB1 syndrome"),
    ]
    return CodeSystem("icd10cm", "tiny", {c.code: c for c in concepts})


def test_generator_demotes_unsaid_modifiers_and_expands_by_type(tmp_path: Path) -> None:
    gen = CodeCandidateGenerator([_tiny()], cache_dir=None).fit()

    def top(mention, **kw):
        return [c.code for c in gen.candidates(mention, k=3, **kw)["icd10cm"]]

    assert top("carcinoma of cervix")[0] == "C53.9"
    assert top("carcinoma in situ of cervix")[0] == "D06.9", "said in the mention: not demoted"
    scores = {c.code: c.score for c in gen.candidates("subarachnoid hemorrhage", k=3)["icd10cm"]}
    assert scores["I60.9"] > scores["S06.6X0A"]
    said = {c.code: c.score for c in gen.candidates("subarachnoid hemorrhage", context="Traumatic subarachnoid hemorrhage after a fall.", k=3)["icd10cm"]}
    assert said["S06.6X0A"] > scores["S06.6X0A"], "the sentence says traumatic"
    # an untyped (Problem) "CT head" is not expanded; as a Test its sense is the scan
    assert all(v.source == "lexical" for v in gen._variants(0, "CT head", None, None))
    test_sense = gen._variants(0, "CT head", None, "Test")
    assert any(v.text.startswith("computed tomography") and v.source == "abbreviation" for v in test_sense)
