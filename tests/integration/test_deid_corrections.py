"""The correction round trip against a real Label Studio.

A note holds a place the detector misses; after the push an annotator labels a problem after it
and marks the place with the ``phi`` control; the pull replaces the place by a surrogate in the
store and in Label Studio (task text, the annotation's items, the prediction's items), the
problem still covers its words, and a later note with the same place is caught at ingest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.config import ENTITY_TAG, PHI_TAG, TEXT_TAG
from cliniloop.models.text import ClinicalTextAnnotator
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import DEID_KEY, NoteDeidentifier, patient_surrogates
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.predict import predict_tasks
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import ensure_text_project, push_tasks

pytestmark = pytest.mark.integration

SECRET = b"cliniloop-corrections-integration-01"
TITLE = "cliniloop corrections test"
MISSED = "bluefinch landing"  # an invented place in lower case
NOTE = (
    "PROGRESS NOTE\n"
    "Jonathan Whitfield was seen on 03/01/2021.\n"
    f"Family meets every Sunday at {MISSED}; she reports chest pain since Friday.\n"
    "Plan: aspirin 81 mg daily, ECG tomorrow.\n"
)
LATER = f"TELEPHONE NOTE\nShe walked to {MISSED} and back without chest pain.\n"


def _item(item_id: str, control: str, label: str, text: str, words: str) -> dict:
    start = text.index(words)
    return {
        "id": item_id,
        "from_name": control,
        "to_name": TEXT_TAG,
        "type": "labels",
        "value": {"start": start, "end": start + len(words), "text": words, "labels": [label]},
    }


def test_a_marked_identifier_leaves_store_and_label_studio_and_later_notes(
    ls_client: LabelStudioClient, tmp_path: Path, phi_detector
) -> None:
    gate = NoteDeidentifier(phi_detector, SECRET, deny_scope=TITLE)
    notes = tmp_path / "notes" / "patient-a"
    notes.mkdir(parents=True)
    (notes / "1.txt").write_text(NOTE, encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    (tid,) = ingest_notes(store, tmp_path / "notes", 10**6, gate).added
    assert MISSED in store.get_task(tid).data["text"], "the detector finds the test's place now: pick another"
    predict_tasks(store, ClinicalTextAnnotator().fit(), None)
    project_id = ensure_text_project(ls_client, TITLE)
    assert push_tasks(store, ls_client, project_id, [tid]).created == [tid]

    (exported,) = ls_client.export_json(project_id)
    ls_text = exported["data"]["text"]
    ls_client.create_annotation(
        exported["id"],
        [
            _item("prob1", ENTITY_TAG, "Problem", ls_text, "chest pain"),
            _item("phi1", PHI_TAG, "LOCATION", ls_text, MISSED),
        ],
        lead_time=12.0,
    )
    pulled = pull_annotations(store, ls_client, project_id, deid_secret=SECRET)
    assert pulled.created == 1 and pulled.phi_added == {"LOCATION": 1}
    assert pulled.corrections.replaced == {"LOCATION": 1} and pulled.corrections.synced == 1

    # the store: the place is gone, replaced by the patient's surrogate; the problem keeps its words
    task = store.get_task(tid)
    text = task.data["text"]
    surrogate = patient_surrogates(SECRET, task.data[DEID_KEY]["patient_ref"]).surrogate("LOCATION", MISSED)
    assert MISSED not in text and f"every Sunday at {surrogate}; she reports chest pain" in text
    (ann,) = store.annotations(tid)
    (problem,) = [r for r in ann.regions if r["id"] == "prob1"]
    assert text[problem["start"] : problem["end"]] == "chest pain" == problem["text"]
    (row,) = store.phi_corrections(tid)
    assert text[row.start : row.end] == surrogate and row.applied_at is not None and row.synced_at is not None

    # Label Studio: the same text, and the string nowhere in the task, its annotation or its predictions
    (after,) = ls_client.export_json(project_id)
    assert after["data"]["text"] == text and MISSED not in json.dumps(after)
    assert set(after["data"]) == set(exported["data"])  # only the text changed
    (ls_ann,) = after["annotations"]
    by_id = {item["id"]: item["value"] for item in ls_ann["result"]}
    assert text[by_id["prob1"]["start"] : by_id["prob1"]["end"]] == "chest pain" == by_id["prob1"]["text"]
    assert text[by_id["phi1"]["start"] : by_id["phi1"]["end"]] == surrogate == by_id["phi1"]["text"]
    predictions = ls_client.task_predictions(after["id"])
    assert predictions and MISSED not in json.dumps(predictions)
    for prediction in predictions:
        for item in prediction["result"]:
            value = item["value"]
            assert value["text"] == text[value["start"] : value["end"]]

    # pulling again changes nothing, in the store or in Label Studio
    again = pull_annotations(store, ls_client, project_id, deid_secret=SECRET)
    assert again.unchanged == 1 and again.created == again.updated == again.phi_removed == 0 and again.phi_added == {}
    assert again.corrections is None and store.get_task(tid).data["text"] == text
    (final,) = ls_client.export_json(project_id)
    assert final["data"]["text"] == text and final["annotations"][0]["result"] == ls_ann["result"]

    # a later note of the patient with the same place: caught by the project's deny-list
    (notes / "2.txt").write_text(LATER, encoding="utf-8")
    (later,) = ingest_notes(store, tmp_path / "notes", 10**6, gate).added
    later_text = store.get_task(later).data["text"]
    assert MISSED not in later_text and f"She walked to {surrogate} and back" in later_text
    assert len(store.deny_list(TITLE)) == 1
