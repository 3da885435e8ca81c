"""Coders validate mention → code candidates in a real Label Studio; verdicts come back as mappings."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.coding import coder_result_json
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.coding import (
    CODER_KEY,
    candidate_generator,
    code_systems,
    coder_items,
    coder_key,
    pull_coder_verdicts,
    push_coder_tasks,
)
from cliniloop.services.loop.mappings import export_mappings
from cliniloop.services.loop.predict import TEXT_MODEL_NAME

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEXT = "PMH: HTN and type 2 diabetes. Denies chest pain today."
SPANS = [("HTN", "Problem"), ("type 2 diabetes", "Problem"), ("chest pain", "Problem")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Store, Settings]:
    tmp = tmp_path_factory.mktemp("coding")
    store = Store(f"sqlite:///{tmp / 'store.sqlite3'}")
    store.migrate()
    store.add_tasks([TaskIn(id="note-1", modality="text", source_uri="mem://note-1", data={"text": TEXT, "deid": {"detector": "none: synthetic text without identifiers"}})])
    regions = [
        TextSpan(start=TEXT.index(m), end=TEXT.index(m) + len(m), text=m, label=lab, probability=0.8,
                 attributes={"assertion": "absent" if m == "chest pain" else "present"})
        for m, lab in SPANS
    ]  # fmt: skip
    store.add_predictions(
        [PredictionIn(task_id="note-1", model_name=TEXT_MODEL_NAME, model_version="v1", taxonomy_version="t", regions=regions, score=0.5, uncertainty=0.5)]
    )
    rf2 = next((REPO / "data_samples" / "snomed_rf2_sample").glob("SnomedCT_*"))
    return store, Settings(var_dir=tmp / "var", snomed_rf2=rf2)


def test_coders_validate_candidates_and_the_next_run_learns(setup, ls_client: LabelStudioClient, tmp_path: Path) -> None:
    store, settings = setup
    systems = code_systems(settings)
    assert [s.name for s in systems] == ["icd10cm", "snomed"]
    generator = candidate_generator(store, settings, systems)
    items = coder_items(store)
    assert [i.mention for i in items] == ["HTN", "type 2 diabetes", "chest pain"]
    report = push_coder_tasks(store, ls_client, "cliniloop coders test", items, generator)
    assert len(report.created) == 3
    again = push_coder_tasks(store, ls_client, "cliniloop coders test", items, generator)
    assert again.created == [] and len(again.already_present) == 3, "a mention is pushed once"
    pid = report.project_id
    ls_ids = ls_client.existing_task_ids(pid, key=CODER_KEY)
    by_mention = {i.mention: i for i in items}
    task = {m: ls_ids[coder_key(by_mention[m])] for m in by_mention}
    data = ls_client.task_data(task["HTN"], pid)
    values = [c["value"] for c in data["candidates"]]
    assert any(v.startswith("icd10cm:") for v in values) and any(v.startswith("snomed:") for v in values)

    # the coder accepts the *third* ICD-10-CM candidate for HTN, types an invalid code for diabetes,
    # a valid alternative elsewhere would be kept; rejects every candidate for chest pain
    icd = [v.split(":", 1)[1] for v in values if v.startswith("icd10cm:")]
    chosen = icd[2]
    ls_client.create_annotation(task["HTN"], coder_result_json("accept", [("icd10cm", chosen)]))
    ls_client.create_annotation(task["type 2 diabetes"], coder_result_json("accept", [], "icd10cm:E11.999"))
    ls_client.create_annotation(task["chest pain"], coder_result_json("reject"))
    pulled = pull_coder_verdicts(store, ls_client, pid, systems)
    assert (pulled.annotations, pulled.created, pulled.invalid_alternatives) == (3, 3, 1)
    assert pull_coder_verdicts(store, ls_client, pid, systems).created == 0, "pulling again changes nothing"

    out = tmp_path / "mappings.csv"
    assert export_mappings(store, out) == 3
    rows = {r["mention"]: r for r in csv.DictReader(out.open())}
    assert (rows["HTN"]["code"], rows["HTN"]["verdict"], rows["HTN"]["valid"]) == (chosen, "accept", "True")
    assert rows["HTN"]["display"] and rows["HTN"]["taxonomy_version"].startswith("icd10cm@")
    bad = rows["type 2 diabetes"]
    assert (bad["verdict"], bad["valid"]) == ("alternative", "False") and "not an ICD-10-CM code" in bad["problem"]
    assert rows["chest pain"]["verdict"] == "reject" and rows["chest pain"]["code"] == ""
    assert store.accepted_mappings() == {"htn": {"icd10cm": [chosen]}}, "the invalid code is never validated"

    # next run: the accepted code ranks first for that mention
    ranked = candidate_generator(store, settings, systems).candidates("HTN")["icd10cm"]
    assert ranked[0].code == chosen and ranked[0].source == "accepted"


def test_text_spans_carry_code_candidates_in_label_studio(setup, ls_client: LabelStudioClient) -> None:
    from cliniloop.services.loop.coding import span_code_candidates
    from cliniloop.services.loop.push import ensure_text_project, push_tasks

    store, settings = setup
    systems = code_systems(settings)
    project_id = ensure_text_project(ls_client, "cliniloop span codes test")
    report = push_tasks(store, ls_client, project_id, ["note-1"], code_candidates=span_code_candidates(candidate_generator(store, settings, systems)))
    assert report.created == ["note-1"]
    (pred,) = [p if isinstance(p, dict) else p.model_dump() for p in ls_client.sdk.predictions.list(task=ls_client.existing_task_ids(project_id)["note-1"])]
    spans = [item for item in pred["result"] if item["type"] == "labels"]
    assert len(spans) == 3
    htn = next(item for item in spans if item["value"]["text"] == "HTN")
    lines = htn["meta"]["text"][0].splitlines()
    assert any(line.startswith("ICD-10-CM I10") for line in lines), lines
    assert any(line.startswith("SNOMED CT") for line in lines), lines
