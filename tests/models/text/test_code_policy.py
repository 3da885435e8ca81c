"""The right code system per mention type (issue 22): ICD-10-CM only for problems, SNOMED by semantic tag."""

from __future__ import annotations

import pytest

from cliniloop.models.text.code_candidates import _CLINICAL_TAGS, CodeCandidateGenerator
from cliniloop.models.text.code_policy import POLICY_SNOMED_TAGS, mention_type, queued, system_allowed, tag_allowed
from cliniloop.taxonomies.codes.system import CodeSystem, Concept


def _icd() -> CodeSystem:
    concepts = {
        "R10.9": Concept("R10.9", "Unspecified abdominal pain", ("abdomen pain",)),
        "K85.90": Concept("K85.90", "Acute pancreatitis without necrosis or infection, unspecified", ("creatinine pancreatitis",)),
        "N18.9": Concept("N18.9", "Chronic kidney disease, unspecified"),
        "R79.89": Concept("R79.89", "Other specified abnormal findings of blood chemistry", ("abnormal creatinine",)),
        "Z79.84": Concept("Z79.84", "Long term (current) use of oral hypoglycemic drugs", ("metformin use",)),
        "K35.80": Concept("K35.80", "Unspecified acute appendicitis", ("appendectomy needed",)),
    }
    return CodeSystem("icd10cm", "tiny", concepts)


def _snomed() -> CodeSystem:
    rows = [
        ("100", "Abdominal pain", "finding"),
        ("101", "Abdomen structure", "body structure"),
        ("102", "Creatinine", "substance"),
        ("103", "Creatinine measurement", "procedure"),
        ("104", "Creatinine level", "observable entity"),
        ("105", "Creatinine increased", "finding"),
        ("106", "Metformin", "substance"),
        ("107", "Metformin-containing product", "product"),
        ("108", "Metformin adverse reaction", "disorder"),
        ("109", "Appendectomy", "procedure"),
        ("110", "Appendicitis", "disorder"),
        ("111", "Appendix structure", "body structure"),
        ("112", "Abdomen pain scale", None),
    ]
    return CodeSystem("snomed", "tiny", {c: Concept(c, d, semantic_tag=t) for c, d, t in rows})


@pytest.fixture(scope="module")
def gen() -> CodeCandidateGenerator:
    return CodeCandidateGenerator([_icd(), _snomed()], k=10, snomed_tags=_CLINICAL_TAGS | POLICY_SNOMED_TAGS, min_score=0.01).fit()


def _tags(cands) -> set[str | None]:
    snomed = _snomed().concepts
    return {snomed[c.code].semantic_tag for c in cands}


def test_policy_functions() -> None:
    assert mention_type(" PROBLEM ") == "problem" and mention_type("Gene") is None and mention_type(None) is None
    assert system_allowed("Problem", "icd10cm") and system_allowed("Problem", "snomed")
    for label in ("Test", "Medication", "Anatomy", "Procedure"):
        assert not system_allowed(label, "icd10cm"), label
    assert tag_allowed("Test", "snomed", "observable entity") and not tag_allowed("Test", "snomed", "disorder")
    assert tag_allowed("Anatomy", "snomed", None), "an unknown tag is kept"
    assert tag_allowed("Gene", "icd10cm", None), "an unknown mention type is not restricted"
    assert not queued("Anatomy", ["icd10cm"]) and queued("Anatomy", ["icd10cm", "snomed"]) and queued("Problem", ["icd10cm"])


def test_problem_gets_icd_and_snomed_disorders_findings(gen: CodeCandidateGenerator) -> None:
    out = gen.candidates("abdominal pain", mention_type="Problem")
    assert out["icd10cm"][0].code == "R10.9"
    assert out["snomed"][0].code == "100" and _tags(out["snomed"]) <= set(_CLINICAL_TAGS) | {None}
    assert "101" not in {c.code for c in out["snomed"]}, "no body structure for a problem"


def test_procedure_gets_snomed_procedures_only(gen: CodeCandidateGenerator) -> None:
    out = gen.candidates("appendectomy", mention_type="Procedure")
    assert out["icd10cm"] == []
    assert out["snomed"][0].code == "109" and _tags(out["snomed"]) <= {"procedure", "regime/therapy", None}


def test_medication_gets_snomed_products_substances_only(gen: CodeCandidateGenerator) -> None:
    out = gen.candidates("metformin", mention_type="Medication")
    assert out["icd10cm"] == []
    assert {c.code for c in out["snomed"]} >= {"106", "107"} and "108" not in {c.code for c in out["snomed"]}
    assert _tags(out["snomed"]) <= {"substance", "product", None}


def test_test_gets_snomed_procedures_observables_only(gen: CodeCandidateGenerator) -> None:
    out = gen.candidates("creatinine", mention_type="Test")
    assert out["icd10cm"] == []
    codes = {c.code for c in out["snomed"]}
    assert {"103", "104"} <= codes and not codes & {"102", "105"}
    assert _tags(out["snomed"]) <= {"procedure", "observable entity", None}


def test_anatomy_gets_snomed_body_structures_only(gen: CodeCandidateGenerator) -> None:
    out = gen.candidates("abdomen", mention_type="Anatomy")
    assert out["icd10cm"] == []
    assert out["snomed"][0].code == "101" and _tags(out["snomed"]) <= {"body structure", None}
    assert "100" not in {c.code for c in out["snomed"]}


def test_no_icd10cm_diagnosis_for_test_medication_anatomy(gen: CodeCandidateGenerator) -> None:
    queries = [("Abdomen", None, None, "Anatomy"), ("Creatinine", "Creatinine 2.1 today.", None, "Test"),
               ("metformin", None, "present", "Medication"), ("appendix", None, None, "anatomy")]  # fmt: skip
    for query, out in zip(queries, gen.candidates_many(queries), strict=True):
        assert out["icd10cm"] == [], query
    assert gen.candidates("Abdomen")["icd10cm"], "without a type the ICD ranking is unchanged"
    # accepted codes follow the policy too: an ICD code accepted for "abdomen" does not come back for Anatomy
    gen2 = CodeCandidateGenerator([_icd(), _snomed()], accepted={"abdomen": {"icd10cm": ["R10.9"], "snomed": ["101"]}},
                                  snomed_tags=POLICY_SNOMED_TAGS).fit()
    assert gen2.candidates("abdomen", mention_type="Anatomy")["icd10cm"] == []
    assert gen2.candidates("abdomen", mention_type="Anatomy")["snomed"][0].source == "accepted"
    assert gen2.candidates("abdomen")["icd10cm"][0].code == "R10.9"
