"""Mention types in the coders' loop (issue 22): spans and coder tasks get only the codes their type allows."""

from __future__ import annotations

from typing import Any

from cliniloop.models.text.code_candidates import _CLINICAL_TAGS, CodeCandidateGenerator
from cliniloop.models.text.code_policy import POLICY_SNOMED_TAGS
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.coding import coder_items, push_coder_tasks, span_code_candidates
from cliniloop.taxonomies.codes.system import CodeSystem, Concept

TEXT = "Abdominal pain since Monday. Abdomen soft. Creatinine 1.2 today."


def _systems(with_snomed: bool = True) -> list[CodeSystem]:
    icd = CodeSystem("icd10cm", "tiny", {
        "R10.9": Concept("R10.9", "Unspecified abdominal pain", ("abdomen pain",)),
        "R79.89": Concept("R79.89", "Other specified abnormal findings of blood chemistry", ("abnormal creatinine",)),
    })  # fmt: skip
    snomed = CodeSystem("snomed", "tiny", {
        "100": Concept("100", "Abdominal pain", semantic_tag="finding"),
        "101": Concept("101", "Abdomen structure", semantic_tag="body structure"),
        "103": Concept("103", "Creatinine measurement", semantic_tag="procedure"),
        "102": Concept("102", "Creatinine", semantic_tag="substance"),
    })  # fmt: skip
    return [icd, snomed] if with_snomed else [icd]


def _gen(with_snomed: bool = True) -> CodeCandidateGenerator:
    return CodeCandidateGenerator(_systems(with_snomed), k=5, snomed_tags=_CLINICAL_TAGS | POLICY_SNOMED_TAGS).fit()


def _span(word: str, label: str, start_at: int = 0) -> TextSpan:
    start = TEXT.index(word, start_at)
    return TextSpan(start=start, end=start + len(word), text=word, label=label, attributes={"assertion": "present"})


class _FakeLS:
    def __init__(self) -> None:
        self.imported: list[dict[str, Any]] = []

    def ensure_project(self, title: str, config: str) -> int:
        return 7

    def existing_task_ids(self, project_id: int, key: str) -> set[str]:
        return set()

    def import_tasks(self, project_id: int, payloads: list[dict[str, Any]]) -> None:
        self.imported.extend(payloads)


def test_spans_get_codes_of_their_type_only() -> None:
    attach = span_code_candidates(_gen(), k=3)
    regions = [_span("Abdominal pain", "Problem"), _span("Abdomen", "Anatomy", 20), _span("Creatinine", "Test")]
    problem, anatomy, test = (r.attributes["codes"] for r in attach(TEXT, regions))
    assert {c["system"] for c in problem} == {"icd10cm", "snomed"} and problem[0]["code"] == "R10.9"
    assert [c["code"] for c in anatomy] == ["101"], "an Anatomy span: body structures, never R10.9"
    assert [c["code"] for c in test] == ["103"], "a Test span: procedures/observables, never an ICD-10-CM code"


def test_coder_push_follows_the_type_and_skips_anatomy_without_snomed(store: Store) -> None:
    store.add_tasks([TaskIn(id="n1", modality="text", source_uri="mem://n1", data={"text": TEXT})])
    spans = [_span("Abdominal pain", "Problem"), _span("Abdomen", "Anatomy", 20), _span("Creatinine", "Test")]
    store.add_predictions([PredictionIn(task_id="n1", model_name="clinical-text", model_version="v", taxonomy_version="t", regions=spans, score=0.5, uncertainty=0.5)])
    items = coder_items(store)
    ls = _FakeLS()
    push_coder_tasks(store, ls, "coders", items, _gen())
    by_mention = {p["data"]["mention"]: [c["value"] for c in p["data"]["candidates"]] for p in ls.imported}
    assert not any(v.startswith("icd10cm:") for v in by_mention["Abdomen"] + by_mention["Creatinine"])
    assert by_mention["Abdomen"] == ["snomed:101"] and by_mention["Creatinine"] == ["snomed:103"]
    assert by_mention["Abdominal pain"][0] == "icd10cm:R10.9"
    ls2 = _FakeLS()
    report = push_coder_tasks(store, ls2, "coders", items, _gen(with_snomed=False))
    assert [p["data"]["mention"] for p in ls2.imported] == ["Abdominal pain"], "no SNOMED CT: Anatomy and Test mentions have no system"
    assert len(report.created) == len(ls2.imported)


NOTE = "HPI: Lactate was 5.2 with E. coli bacteremia, seen by Dr. Jones. No chest pain today.\n1. Sepsis"


def test_coder_task_shows_the_whole_sentence_section_assertion_and_marked_mention(store: Store) -> None:
    from cliniloop.services.loop.coding import sentence_around

    store.add_tasks([TaskIn(id="n2", modality="text", source_uri="mem://n2", data={"text": NOTE})])
    s = NOTE.index("bacteremia")
    spans = [TextSpan(start=s, end=s + 10, text="bacteremia", label="Problem", attributes={"assertion": "present", "section": "HPI"}),
             TextSpan(start=NOTE.index("chest pain"), end=NOTE.index("chest pain") + 10, text="chest pain", label="Problem",
                      attributes={"assertion": "absent", "section": "HPI"})]  # fmt: skip
    store.add_predictions([PredictionIn(task_id="n2", model_name="clinical-text", model_version="v", taxonomy_version="t", regions=spans, score=0.5, uncertainty=0.5)])
    ls = _FakeLS()
    push_coder_tasks(store, ls, "coders", coder_items(store, ["n2"]), _gen())
    first, second = (p["data"] for p in ls.imported)
    assert first["sentence"] == first["context"] == "HPI: Lactate was 5.2 with E. coli bacteremia, seen by Dr. Jones."
    assert first["section"] == "HPI" and first["assertion"] == "present" and first["mention_type"] == "Problem"
    assert "<mark>bacteremia</mark>" in first["where_html"] and "Assertion</b>: present" in first["where_html"]
    assert second["sentence"] == "No chest pain today." and second["assertion"] == "absent"
    assert "No <mark>chest pain</mark> today." in second["where_html"]
    # never shorter than one full sentence, however long it is
    long = "Patient " + "with a long history of many things " * 20 + "and sepsis today. Next."
    i = long.index("sepsis")
    assert sentence_around(long, i, i + 6) == long[: long.index(" Next.")]


def test_coder_config_shows_where_and_accepts_results() -> None:
    from cliniloop.connectors.label_studio.client import validation_errors
    from cliniloop.connectors.label_studio.coding import coder_label_config, coder_result_json

    assert 'value="$where_html"' in coder_label_config()
    assert validation_errors(coder_label_config(), coder_result_json("accept", [("icd10cm", "I10")])) == []
