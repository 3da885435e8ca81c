"""FHIR R4 ConceptMap and SNOMED CT simple-map refset exports of coders' mappings, with agreement per row."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest

from cliniloop.services.core.schemas import CodeVerdictIn
from cliniloop.services.core.store import Store
from cliniloop.services.loop.mapping_exports import (
    MENTION_SYSTEM,
    REFSET_COLUMNS,
    ConceptMapError,
    agreement_rows,
    build_conceptmap,
    validate_conceptmap,
)
from cliniloop.services.loop.mappings import export_mappings


def _v(ann: str, coder: str, verdict: str, system: str = "icd10cm", code: str = "", mention: str = "HTN", **kw) -> CodeVerdictIn:
    return CodeVerdictIn(
        mention=mention, normalized_mention=" ".join(mention.lower().split()), system=system, code=code, coder=coder,
        verdict=verdict, source_annotation_id=ann, taxonomy_version=f"{system}@test", **kw,
    )  # fmt: skip


def _fill(store: Store) -> None:
    # HTN: a and b chose I10, c rejected -> I10 agreed by 2 of 3; c's typo code is invalid and never exported
    store.upsert_code_verdict(_v("1:0", "a", "accept", code="I10", display="Essential (primary) hypertension"))
    store.upsert_code_verdict(_v("2:0", "b", "accept", code="I10"))
    store.upsert_code_verdict(_v("2:0:1", "b", "accept", code="I10"))  # the same coder on a second occurrence
    store.upsert_code_verdict(_v("3:0", "c", "reject", system="any"))
    store.upsert_code_verdict(_v("3:1", "c", "alternative", code="X99", valid=False, problem="unknown"))
    # septic shock: one coder, SNOMED and ICD-10-CM
    store.upsert_code_verdict(_v("4:0", "a", "accept", system="snomed", code="76571007", mention="Septic  shock"))
    store.upsert_code_verdict(_v("4:1", "a", "alternative", code="R65.21", mention="Septic  shock"))


def test_agreement_per_row_counts_each_coder_once(store: Store) -> None:
    _fill(store)
    rows = {(r["normalized_mention"], r["system"], r["code"]): r for r in agreement_rows(store)}
    assert set(rows) == {("htn", "icd10cm", "I10"), ("septic shock", "snomed", "76571007"), ("septic shock", "icd10cm", "R65.21")}
    htn = rows[("htn", "icd10cm", "I10")]
    assert (htn["agreeing"], htn["coders"], htn["agreement"]) == (2, 3, 0.6667)
    assert htn["display"] == "Essential (primary) hypertension"


def test_conceptmap_structure_and_validation(store: Store) -> None:
    _fill(store)
    cm = build_conceptmap(store)
    validate_conceptmap(cm)
    groups = {g["target"]: g for g in cm["group"]}
    assert set(groups) == {"http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct"}
    icd = groups["http://hl7.org/fhir/sid/icd-10-cm"]
    assert icd["source"] == MENTION_SYSTEM and [e["code"] for e in icd["element"]] == ["htn", "septic shock"]
    target = icd["element"][0]["target"][0]
    assert (target["code"], target["equivalence"], target["comment"]) == ("I10", "relatedto", "2 of 3 coders chose this code")
    assert target["extension"][0]["valueDecimal"] == 0.6667
    sct = groups["http://snomed.info/sct"]["element"][0]["target"][0]
    assert sct["equivalence"] == "equivalent", "the only coder chose it"

    for breaking, message in (
        (lambda c: c.pop("status"), "status"),
        (lambda c: c["group"][0]["element"][0]["target"][0].pop("equivalence"), "equivalence"),
        (lambda c: c["group"][0]["element"][0]["target"][0].update(equivalence="same"), "ConceptMapEquivalence"),
        (lambda c: c["group"][0]["element"][0].update(code=" htn"), "element.0.code|not a FHIR code"),
        (lambda c: c["group"][0]["element"][0]["target"][0].update(equivalence="inexact", comment=None), "cmd-1"),
        (lambda c: c["group"][0].update(element="htn"), "not a FHIR ConceptMap"),
    ):
        bad = copy.deepcopy(cm)
        breaking(bad)
        with pytest.raises(ConceptMapError, match=message):
            validate_conceptmap(bad)


def test_export_conceptmap_and_refset_files(store: Store, tmp_path: Path) -> None:
    _fill(store)
    assert export_mappings(store, tmp_path / "map.json", "conceptmap") == 3
    validate_conceptmap(json.loads((tmp_path / "map.json").read_text()))
    assert export_mappings(store, tmp_path / "refset.txt", "refset") == 1
    raw = (tmp_path / "refset.txt").read_bytes()
    assert raw.endswith(b"\r\n")
    rows = list(csv.DictReader(raw.decode().splitlines(), delimiter="\t"))
    assert tuple(rows[0]) == REFSET_COLUMNS
    assert (rows[0]["referencedComponentId"], rows[0]["mapTarget"], rows[0]["agreeingCoders"], rows[0]["coders"]) == (
        "76571007", "septic shock", "1", "1",
    )  # fmt: skip
    with pytest.raises(ValueError, match="SNOMED CT mappings only"):
        export_mappings(store, tmp_path / "r.txt", "refset", system="icd10cm")
