"""Corrections close the hole: a marked identifier leaves the task text, in the store and in a
(fake, in-memory) Label Studio, other regions keep their words, and later notes are caught.

The same round trip against a real Label Studio is ``tests/integration/test_deid_corrections.py``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql

from cliniloop.models.text.deid.offsets import OffsetMap
from cliniloop.services.core.schemas import PredictionIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import DEID_KEY, NoteDeidentifier, patient_surrogates, shareable_data
from cliniloop.services.loop.deid_corrections import PENDING_KEY, apply_phi_corrections
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.pull import pull_annotations

TEST_DEID_SECRET = b"cliniloop-corrections-tests-0001"

SCOPE = "corrections test"
MISSED = "bluefinch landing"  # an invented place in lower case: no recognizer knows it
NOTE = (
    "Jonathan Whitfield was seen on 03/01/2021 for chest pain.\n"
    f"Family meets every Sunday at {MISSED}; she denies chest pain today.\n"
    "Whitfield is stable. Plan: aspirin.\n"
)
LATER = f"Seen again on 03/20/2021. She walked to {MISSED} and back; also to Bluefinch  Landing.\n"
PROJECT = 3


class FakeLabelStudio:
    """The client calls the correction round trip makes, on one in-memory project."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, list[dict[str, Any]]] = {}
        self.predictions: dict[int, list[dict[str, Any]]] = {}
        self.updates = {"annotation": 0, "prediction": 0, "task": 0}
        self.fail_task_update = False

    def project_ref(self, project_id: int) -> str:
        return f"http://fake/projects/{project_id}"

    def project_title(self, project_id: int) -> str:
        return SCOPE

    def existing_task_ids(self, project_id: int) -> dict[str, int]:
        return {d["cliniloop_id"]: i for i, d in self.tasks.items()}

    def iter_project_annotations(self, project_id: int):
        for ls_id, data in self.tasks.items():
            yield ls_id, copy.deepcopy(data), copy.deepcopy(self.annotations.get(ls_id, []))

    def task_data(self, ls_id: int, project_id: int | None = None) -> dict[str, Any]:
        return copy.deepcopy(self.tasks[ls_id])

    def task_annotations(self, ls_id: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self.annotations.get(ls_id, []))

    def task_predictions(self, ls_id: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self.predictions.get(ls_id, []))

    def update_annotation(self, annotation_id: int, result: list[dict[str, Any]]) -> dict[str, Any]:
        for anns in self.annotations.values():
            for ann in anns:
                if ann["id"] == annotation_id:
                    ann["result"] = copy.deepcopy(result)
                    self.updates["annotation"] += 1
                    return ann
        raise KeyError(annotation_id)

    def update_prediction(self, prediction_id: int, result: list[dict[str, Any]]) -> None:
        for preds in self.predictions.values():
            for pred in preds:
                if pred["id"] == prediction_id:
                    pred["result"] = copy.deepcopy(result)
                    self.updates["prediction"] += 1

    def update_task_data(self, ls_id: int, data: dict[str, Any]) -> None:
        if self.fail_task_update:
            raise RuntimeError("Label Studio is down")
        self.tasks[ls_id] = copy.deepcopy(data)
        self.updates["task"] += 1


def _item(item_id: str, control: str, label: str, text: str, words: str, nth: int = 0) -> dict[str, Any]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(words, start + 1)
    return {
        "id": item_id,
        "from_name": control,
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": start + len(words), "text": words, "labels": [label]},
    }


def _dump(store: Store) -> str:
    out = []
    with store.engine.connect() as conn:
        for table in ("tasks", "audit_events", "predictions", "annotations", "phi_corrections", "deid_deny_list"):
            for row in conn.execute(sql(f"SELECT * FROM {table}")):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


@pytest.fixture
def gate(phi_detector) -> NoteDeidentifier:
    return NoteDeidentifier(phi_detector, TEST_DEID_SECRET, deny_scope=SCOPE)


@pytest.fixture
def loop(store: Store, tmp_path: Path, gate: NoteDeidentifier):
    """One ingested note (missed identifier asserted), a stored prediction, pushed to the fake."""
    notes = tmp_path / "notes"
    (notes / "patient-a").mkdir(parents=True)
    (notes / "patient-a" / "1.txt").write_text(NOTE, encoding="utf-8")
    (tid,) = ingest_notes(store, notes, 10**6, gate).added
    task = store.get_task(tid)
    text = task.data["text"]
    assert MISSED in text, "the detector now finds the test's identifier: pick another"
    pain = [_item(f"p{i}", "entity", "Problem", text, "chest pain", i) for i in range(2)]
    regions = [TextSpan(id=p["id"], label="Problem", start=p["value"]["start"], end=p["value"]["end"], text="chest pain") for p in pain]
    store.add_predictions([PredictionIn(task_id=tid, model_name="ner", model_version="v1", taxonomy_version="t1", regions=regions, score=0.5, uncertainty=0.5)])
    ls = FakeLabelStudio()
    ls.tasks[11] = {**shareable_data(task.data), "cliniloop_id": tid}
    ls.predictions[11] = [{"id": 51, "result": copy.deepcopy(pain)}]
    store.record_pushes(ls.project_ref(PROJECT), {tid: 11}, "v1")
    # the annotator labels "chest pain" twice and a span overlapping the place, and marks the place
    result = [
        _item("a1", "entity", "Problem", text, "chest pain"),
        _item("a2", "entity", "Problem", text, "chest pain", 1),
        _item("a3", "entity", "Problem", text, f"Sunday at {MISSED}"),
        _item("m1", "phi", "LOCATION", text, MISSED),
    ]
    ls.annotations[11] = [{"id": 7, "completed_by": {"id": 2, "email": "ann@example.org"}, "result": result, "lead_time": 9.0}]
    return store, ls, tid


def test_pull_replaces_the_marked_identifier_everywhere_and_keeps_offsets(loop) -> None:
    store, ls, tid = loop
    report = pull_annotations(store, ls, PROJECT, deid_secret=TEST_DEID_SECRET)
    assert report.phi_added == {"LOCATION": 1} and report.corrections.replaced == {"LOCATION": 1}
    task = store.get_task(tid)
    text, record = task.data["text"], task.data[DEID_KEY]
    surrogate = patient_surrogates(TEST_DEID_SECRET, record["patient_ref"]).surrogate("LOCATION", MISSED)
    assert MISSED not in text and f"Sunday at {surrogate}; she denies chest pain today." in text
    # Label Studio: the same text, and no copy of the identifier anywhere (the phi item's text neither)
    assert ls.tasks[11]["text"] == text and MISSED not in json.dumps([ls.tasks, ls.annotations, ls.predictions])
    assert ls.updates == {"annotation": 1, "prediction": 1, "task": 1}
    # every region still covers its words, in the store and in Label Studio
    (ann,) = store.annotations(tid)
    assert sorted(text[r["start"] : r["end"]] for r in ann.regions) == ["Sunday at " + surrogate, "chest pain", "chest pain"]
    assert all(r["text"] == text[r["start"] : r["end"]] for r in ann.regions)
    (pred,) = store.predictions([tid])
    assert [text[r["start"] : r["end"]] for r in pred.regions] == ["chest pain", "chest pain"]
    for item in ls.annotations[11][0]["result"] + ls.predictions[11][0]["result"]:
        assert item["value"]["text"] == text[item["value"]["start"] : item["value"]["end"]]
    # the correction now covers the surrogate, applied and synced; the offset map knows the new span
    (row,) = store.phi_corrections(tid)
    assert text[row.start : row.end] == surrogate and row.applied_at is not None and row.synced_at is not None
    offsets = OffsetMap.from_json(record["offsets"])
    (new,) = [r for r in offsets.replacements if r.type == "LOCATION" and text[r.deid_start : r.deid_end] == surrogate]
    assert NOTE[new.orig_start : new.orig_end] == MISSED and PENDING_KEY not in record
    w = NOTE.index("denies chest pain")
    assert text[slice(*offsets.span_to_deid(w, w + 17))] == "denies chest pain"
    assert record["counts"]["LOCATION"] >= 1 and record["corrected"] == 1
    # the deny-list and the audit hold no clear identifier; nothing in the store does
    (entry,) = store.deny_list(SCOPE)
    assert (entry.type, entry.tokens, len(entry.digest)) == ("LOCATION", 2, 64)
    (event,) = store.audit_events("phi_corrected")
    assert event.details["counts"] == {"LOCATION": 1} and event.details["deny_list_added"] == 1
    assert MISSED not in _dump(store) and "bluefinch" not in _dump(store).lower()


def test_applying_again_changes_nothing(loop) -> None:
    store, ls, tid = loop
    pull_annotations(store, ls, PROJECT, deid_secret=TEST_DEID_SECRET)
    text = store.get_task(tid).data["text"]
    updates = dict(ls.updates)
    again = pull_annotations(store, ls, PROJECT, deid_secret=TEST_DEID_SECRET)
    assert again.created == again.updated == 0 and again.unchanged == 1 and again.corrections is None
    assert apply_phi_corrections(store, TEST_DEID_SECRET, SCOPE).tasks == 0
    assert store.get_task(tid).data["text"] == text and ls.updates == updates
    assert len(store.audit_events("phi_corrected")) == 1 and len(store.deny_list(SCOPE)) == 1


def test_a_label_studio_failure_is_finished_by_the_next_pull(loop) -> None:
    store, ls, tid = loop
    ls.fail_task_update = True
    with pytest.raises(RuntimeError, match="down"):
        pull_annotations(store, ls, PROJECT, deid_secret=TEST_DEID_SECRET)
    # the store is corrected and remembers what Label Studio still lacks
    task = store.get_task(tid)
    assert MISSED not in task.data["text"] and PENDING_KEY in task.data[DEID_KEY]
    assert ls.tasks[11]["text"] != task.data["text"]
    ls.fail_task_update = False
    report = pull_annotations(store, ls, PROJECT, deid_secret=TEST_DEID_SECRET)
    assert report.corrections.synced == 1 and report.held == set() and report.unchanged == 1
    text = store.get_task(tid).data["text"]
    assert ls.tasks[11]["text"] == text and PENDING_KEY not in store.get_task(tid).data[DEID_KEY]
    for item in ls.annotations[11][0]["result"]:
        assert item["value"]["text"] == text[item["value"]["start"] : item["value"]["end"]]
    (row,) = store.phi_corrections(tid)
    assert row.synced_at is not None and len(store.audit_events("phi_corrected")) == 1


def test_later_notes_of_the_project_are_caught_with_the_same_surrogate(loop, tmp_path: Path, gate) -> None:
    store, ls, tid = loop
    pull_annotations(store, ls, PROJECT, deid_secret=TEST_DEID_SECRET)
    first = store.get_task(tid)
    ref = first.data[DEID_KEY]["patient_ref"]
    surrogate = patient_surrogates(TEST_DEID_SECRET, ref).surrogate("LOCATION", MISSED)
    later = tmp_path / "later"
    (later / "patient-a").mkdir(parents=True)
    (later / "patient-a" / "2.txt").write_text(LATER, encoding="utf-8")
    (new_id,) = ingest_notes(store, later, 10**6, gate).added
    task = store.get_task(new_id)
    text = task.data["text"]
    assert task.data[DEID_KEY]["patient_ref"] == ref
    assert "bluefinch" not in text.lower() and f"walked to {surrogate} and back" in text
    # another project's gate does not use this project's list
    (later / "patient-a" / "3.txt").write_text(LATER + "Other project.\n", encoding="utf-8")
    other = NoteDeidentifier(gate.detector, TEST_DEID_SECRET, deny_scope="another project")
    (third,) = ingest_notes(store, later / "patient-a" / "3.txt", 10**6, other).added
    assert MISSED in store.get_task(third).data["text"]
