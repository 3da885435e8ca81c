"""A note full of identifiers goes through ingest and push: Label Studio never sees one of them.

Then an annotator marks an identifier the detector missed with the ``phi`` control; the pull
stores the correction (offsets and type only) and counts it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text as sql

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.config import PHI_TAG, TEXT_TAG
from cliniloop.models.text import ClinicalTextAnnotator
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import NotDeidentifiedError
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.predict import predict_tasks
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import ensure_text_project, push_tasks

pytestmark = pytest.mark.integration

IDENTIFIERS = {
    "NAME": ["Margaret Okonkwo-Bell", "Okonkwo-Bell", "Theodore Brandt"],
    "DATE": ["07/22/1929", "22 July 2023", "2023-07-25"],
    "AGE": ["94-year-old"],  # the bare number would match timestamps
    "MRN": ["MRN00736152"],
    "PHONE": ["(413) 555-0187"],
    "FAX": ["413.555.0190"],
    "EMAIL": ["m.okonkwo.bell@gmail.com"],
    "SSN": ["078-05-1120"],
    "LOCATION": ["1187 Ridgecrest Road", "Northampton", "01060"],
    "HEALTH_PLAN": ["1EG4-TE5-MK73"],
    "ACCOUNT": ["4471902216"],
    "URL": ["https://mychart.valleyhealth.org/okonkwo"],
    "IP_ADDRESS": ["172.16.254.1"],
    "DEVICE_ID": ["PJN448291K"],
    "VEHICLE_ID": ["2T1BURHE0JC034461"],
    "LICENSE": ["S530-4417-2291"],
}
NOTE = """DISCHARGE SUMMARY
Patient: Margaret Okonkwo-Bell        DOB: 07/22/1929        MRN: MRN00736152
Admitted: 22 July 2023    Discharged: 2023-07-25    Attending: Theodore Brandt, MD
Account #: 4471902216    Medicare ID: 1EG4-TE5-MK73    SSN: 078-05-1120

Ms. Okonkwo-Bell is a 94-year-old woman admitted with community-acquired pneumonia.
She denies chest pain. Pacemaker serial number PJN448291K checked. Driver's license S530-4417-2291.
Her daughter drove her in (VIN 2T1BURHE0JC034461).
Lives at 1187 Ridgecrest Road, Northampton, MA 01060. Phone (413) 555-0187, fax 413.555.0190,
e-mail m.okonkwo.bell@gmail.com. Portal: https://mychart.valleyhealth.org/okonkwo (login from 172.16.254.1).
Plan: amoxicillin 500 mg three times daily for 5 days. Follow up with Dr. Brandt in one week.
The family cottage at Quabbin Shore is where she spends summers.
"""
MISSED = "Quabbin Shore"  # a place name no recognizer knows: the annotator marks it


def _everything_in(store: Store) -> str:
    out = []
    with store.engine.connect() as conn:
        for table in ("tasks", "audit_events", "predictions", "annotations", "original_notes", "phi_corrections", "pushes"):
            for row in conn.execute(sql(f"SELECT * FROM {table}")):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def test_identifiers_never_reach_label_studio_and_missed_ones_come_back_as_counts(
    ls_client: LabelStudioClient, tmp_path: Path, deidentifier, caplog
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "okonkwo-bell_discharge.txt").write_text(NOTE, encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    caplog.set_level(logging.DEBUG)

    report = ingest_notes(store, notes, 10**6, deidentifier)
    (tid,) = report.added
    predict_tasks(store, ClinicalTextAnnotator().fit(), None)
    project_id = ensure_text_project(ls_client, "cliniloop deid gate test")
    pushed = push_tasks(store, ls_client, project_id, [tid])
    assert pushed.created == [tid]

    # what Label Studio holds: the task text and everything else it stores for the task
    (exported,) = ls_client.export_json(project_id)
    ls_text = exported["data"]["text"]
    ls_dump = json.dumps(exported)
    for phi_type, values in IDENTIFIERS.items():
        for value in values:
            assert value not in ls_dump, f"{phi_type} {value!r} reached Label Studio"
    assert "deid" not in exported["data"]  # the de-identification record stays in cliniloop
    assert "90+-year-old woman" in ls_text and "amoxicillin 500 mg three times daily" in ls_text
    assert "community-acquired pneumonia" in ls_text

    # the store: no original text anywhere, the audit event has only counts
    dump = _everything_in(store)
    for values in IDENTIFIERS.values():
        for value in values:
            assert value not in dump
    assert store.count_original_notes() == 0
    (event,) = store.audit_events("deidentify")
    counts = event.details["counts"]
    assert set(counts) == set(IDENTIFIERS) and all(isinstance(n, int) and n >= 1 for n in counts.values())
    assert counts["NAME"] >= 4 and counts["DATE"] == 3
    assert set(event.details) == {"detector", "counts", "identifiers", "patient_ref", "original_kept"}

    # an annotator marks the place the detector missed; the pull stores offsets and type only
    start = ls_text.index(MISSED)
    phi_item = {
        "id": "phi1",
        "from_name": PHI_TAG,
        "to_name": TEXT_TAG,
        "type": "labels",
        "value": {"start": start, "end": start + len(MISSED), "text": MISSED, "labels": ["LOCATION"]},
    }
    ls_client.create_annotation(exported["id"], [phi_item])
    pulled = pull_annotations(store, ls_client, project_id, deid_secret=deidentifier.secret)
    assert pulled.phi_added == {"LOCATION": 1}
    (correction,) = store.phi_corrections(tid)
    # the pull then replaced it (tests/integration/test_deid_corrections.py): the mark covers the surrogate
    new_text = store.get_task(tid).data["text"]
    assert correction.type == "LOCATION" and correction.applied_at is not None and MISSED not in new_text
    assert correction.start == start and new_text[correction.end :] == ls_text[start + len(MISSED) :]
    (marked,) = store.audit_events("phi_correction")
    assert marked.details["counts"] == {"LOCATION": 1} and MISSED not in json.dumps(marked.details)

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for values in IDENTIFIERS.values():
        for value in values:
            assert value not in logged


def test_push_refuses_a_task_that_skipped_the_gate(ls_client: LabelStudioClient, tmp_path: Path) -> None:
    from cliniloop.services.core.schemas import TaskIn

    store = Store(f"sqlite:///{tmp_path / 'raw.sqlite3'}")
    store.migrate()
    store.add_tasks([TaskIn(id="raw-1", modality="text", source_uri="x", data={"text": NOTE})])
    project_id = ensure_text_project(ls_client, "cliniloop deid gate test")
    before = len(ls_client.existing_task_ids(project_id))
    with pytest.raises(NotDeidentifiedError, match="not marked de-identified"):
        push_tasks(store, ls_client, project_id, ["raw-1"])
    assert len(ls_client.existing_task_ids(project_id)) == before and store.pushed(ls_client.project_ref(project_id)) == {}
