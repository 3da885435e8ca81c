"""Identifiers annotators mark as missed (``phi`` control) are stored as offsets and counted."""

from __future__ import annotations

import pytest

from cliniloop.connectors.label_studio.convert import ConversionError, phi_corrections, result_to_regions
from cliniloop.services.core.schemas import TaskIn
from cliniloop.services.core.store import Store
from cliniloop.services.loop.pull import PullReport, reconcile_task

TEXT = "Seen by Dr. Quill today. Lives near Old Mill Pond. Chest pain resolved."


def _span(item_id: str, control: str, label: str, word: str) -> dict:
    start = TEXT.index(word)
    return {
        "id": item_id,
        "from_name": control,
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": start + len(word), "text": word, "labels": [label]},
    }


def _annotation(ann_id: int, *items: dict) -> dict:
    return {"id": ann_id, "completed_by": {"id": 7, "email": "ann@example.org"}, "result": list(items)}


@pytest.fixture
def task_store(store: Store) -> Store:
    store.add_tasks([TaskIn(id="t1", modality="text", source_uri="x", data={"text": TEXT, "deid": {"detector": "deid-test"}})])
    return store


def test_phi_items_are_not_entity_regions_and_carry_no_text() -> None:
    result = [_span("a", "entity", "Problem", "Chest pain"), _span("b", "phi", "NAME", "Quill")]
    assert [r.label for r in result_to_regions(result, TEXT)] == ["Problem"]
    assert phi_corrections(result, ["NAME", "LOCATION"]) == [(TEXT.index("Quill"), TEXT.index("Quill") + 5, "NAME")]
    with pytest.raises(ConversionError, match="bad type"):
        phi_corrections([_span("c", "phi", "PATIENT", "Quill")], ["NAME"])


def test_pull_stores_corrections_counts_them_and_follows_edits(task_store: Store) -> None:
    data = {"cliniloop_id": "t1", "text": TEXT}
    ann = _annotation(11, _span("a", "entity", "Problem", "Chest pain"), _span("b", "phi", "NAME", "Quill"), _span("c", "phi", "LOCATION", "Old Mill Pond"))
    report = PullReport()
    reconcile_task(task_store, 3, data, [ann], report)
    assert report.phi_added == {"NAME": 1, "LOCATION": 1}
    rows = task_store.phi_corrections("t1")
    assert {(r.type, TEXT[r.start : r.end]) for r in rows} == {("NAME", "Quill"), ("LOCATION", "Old Mill Pond")}
    assert all(r.annotator == "ann@example.org" and r.detector_version == "deid-test" for r in rows)
    (event,) = task_store.audit_events("phi_correction")
    assert event.details == {"counts": {"NAME": 1, "LOCATION": 1}, "detector": "deid-test"}
    assert "Quill" not in str(event.details)
    # the annotation's entity regions keep no phi span
    (stored,) = task_store.annotations("t1")
    assert [r["label"] for r in stored.regions] == ["Problem"]

    # pulling the same state again changes nothing
    again = PullReport()
    reconcile_task(task_store, 3, data, [ann], again)
    assert again.phi_added == {} and again.phi_removed == 0 and len(task_store.audit_events("phi_correction")) == 1

    # the annotator removes one mark; then deletes the annotation
    edited = _annotation(11, _span("b", "phi", "NAME", "Quill"))
    third = PullReport()
    reconcile_task(task_store, 3, data, [edited], third)
    assert third.phi_removed == 1 and [r.type for r in task_store.phi_corrections("t1")] == ["NAME"]
    reconcile_task(task_store, 3, data, [], PullReport())
    assert task_store.phi_corrections("t1") == []
