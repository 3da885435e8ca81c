"""The audit trail as records, JSON and CSV (services/quality/audit_export.py)."""

from __future__ import annotations

import csv
import io
import json

from cliniloop.services.core.store import Store
from cliniloop.services.quality.audit_export import COLUMNS, audit_csv, audit_json, audit_records


def _events(store: Store) -> list:
    store.audit("alice", "train", "model", "ner", model_version="v1", taxonomy_version="tx1", count=3)
    store.audit("bob", "export", "model", "ner", version="v2", note_count=1, path="a,b \"quoted\"")
    store.audit("cliniloop", "gold_import", "gold_answers", None)
    return store.audit_events()


def test_records_lift_versions(store: Store) -> None:
    events = _events(store)
    records = audit_records(events)
    assert [r["model_version"] for r in records] == ["v1", "v2", None]  # model_version, else version
    assert [r["taxonomy_version"] for r in records] == ["tx1", None, None]
    first = records[0]
    assert list(first) == list(COLUMNS)
    assert (first["id"], first["actor"], first["action"], first["entity"], first["entity_id"]) == (events[0].id, "alice", "train", "model", "ner")
    assert first["at"] == events[0].at.isoformat()
    assert first["details"] == {"model_version": "v1", "taxonomy_version": "tx1", "count": 3}  # details kept whole
    assert records[2]["entity_id"] is None and records[2]["details"] == {}
    first["details"]["count"] = 99
    assert events[0].details["count"] == 3  # records hold a copy


def test_json_export(store: Store) -> None:
    records = audit_records(_events(store))
    text = audit_json(records)
    assert text.endswith("\n")
    doc = json.loads(text)
    assert doc["count"] == 3 and doc["events"] == records
    assert list(doc) == ["count", "events"] and list(doc["events"][0]) == sorted(COLUMNS)  # sorted keys
    assert json.loads(audit_json([])) == {"count": 0, "events": []}


def test_csv_export(store: Store) -> None:
    records = audit_records(_events(store))
    text = audit_csv(records)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    assert [r["model_version"] for r in rows] == ["v1", "v2", ""]  # None is written as an empty cell
    assert rows[1]["details"] == json.dumps(records[1]["details"], sort_keys=True)
    assert json.loads(rows[1]["details"]) == {"version": "v2", "note_count": 1, "path": 'a,b "quoted"'}
    assert rows[0]["at"] == records[0]["at"] and rows[0]["id"] == str(records[0]["id"])
    assert audit_csv([]) == ",".join(COLUMNS) + "\r\n"
