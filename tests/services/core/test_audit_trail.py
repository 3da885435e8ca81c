"""The audit trail: what it may hold, that the database keeps it append-only, and its queries."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy.exc import DBAPIError

from cliniloop.services.core.audit import MAX_STRING_CHARS, AuditDetailError, check_details
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store


# -- check_details ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["text", "Note", "PATIENT", "mrn", "api_key", "password", "surrogate"])
def test_forbidden_field_names_are_refused(field: str) -> None:
    with pytest.raises(AuditDetailError, match=rf"'details\.{field}'"):
        check_details({"count": 1, field: "x"})


def test_allowed_values() -> None:
    check_details({
        "count": 3, "ratio": 0.5, "ok": True, "none": None, "model_version": "v1",
        "by_type": {"NAME": 2, "PHONE": 1},  # nested keys are data, not field names
        "ids": ["a", "b", 3], "pair": ("x", 1), "edge": "y" * MAX_STRING_CHARS,
    })  # fmt: skip


def test_long_strings_are_refused_with_their_path() -> None:
    assert MAX_STRING_CHARS == 300
    with pytest.raises(AuditDetailError, match=r"'details\.error' is a 301-character string"):
        check_details({"error": "y" * 301})
    with pytest.raises(AuditDetailError, match=r"'details\.ids\[1\]'"):
        check_details({"ids": ["ok", "z" * 301]})
    with pytest.raises(AuditDetailError, match=r"'event\.nested\.deep'"):
        check_details({"nested": {"deep": "z" * 400}}, where="event")


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), object(), b"bytes"])
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(AuditDetailError, match=r"'details\.when' is a .*not a JSON value"):
        check_details({"when": value})


# -- Store.audit -----------------------------------------------------------------------------------
def test_store_audit_refuses_forbidden_fields_and_writes_nothing(any_store: Store) -> None:
    with pytest.raises(AuditDetailError, match="'details.text'"):
        any_store.audit("alice", "export", "task", "t1", text="chest pain")
    with pytest.raises(AuditDetailError):
        any_store.audit("alice", "export", "task", "t1", reason="n" * 301)
    assert any_store.audit_events() == []
    any_store.audit("alice", "export", "task", "t1", regions=2)
    [event] = any_store.audit_events()
    assert (event.actor, event.action, event.entity, event.entity_id, event.details) == ("alice", "export", "task", "t1", {"regions": 2})


def test_add_tasks_with_a_bad_audit_event_stores_nothing(any_store: Store) -> None:
    task = TaskIn(id="t1", modality="text", source_uri="mem://t1", data={"text": "note"})
    with pytest.raises(AuditDetailError):
        any_store.add_tasks([task], audit_events={"t1": ("cli", "ingest", {"note": "Jane Doe"})})
    assert any_store.list_tasks() == [] and any_store.audit_events() == []


# -- append-only triggers (migration 0005) --------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events", "UPDATE audit_events SET details = '{}' WHERE id = 1"],
)
def test_database_refuses_update_and_delete(any_store: Store, statement: str) -> None:
    any_store.audit("alice", "export", "task", "t1", regions=2)
    with pytest.raises(DBAPIError, match="append-only"):
        with any_store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    [event] = any_store.audit_events()
    assert (event.actor, event.details) == ("alice", {"regions": 2})


def test_orm_delete_is_refused_too(any_store: Store) -> None:
    from cliniloop.services.core.tables import AuditEventRow

    any_store.audit("alice", "export", "task", "t1")
    with pytest.raises(DBAPIError, match="append-only"):
        with any_store.session() as s:
            s.delete(s.get(AuditEventRow, any_store.audit_events()[0].id))
    assert len(any_store.audit_events()) == 1


def test_inserts_still_work_after_a_refused_update(any_store: Store) -> None:
    any_store.audit("alice", "a1", "task")
    with pytest.raises(DBAPIError):
        with any_store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_events SET action = 'x'")
    any_store.audit("alice", "a2", "task")
    assert [e.action for e in any_store.audit_events()] == ["a1", "a2"]


# -- audit_events filters --------------------------------------------------------------------------
def _three(store: Store) -> list:
    store.audit("alice", "model_train", "model", "ner", model_version="v1")
    time.sleep(0.02)
    store.audit("bob", "model_promote", "model", "ner", model_version="v1")
    time.sleep(0.02)
    store.audit("alice", "gold_import", "gold_answers", "g.jsonl", created=2)
    return store.audit_events()


def test_audit_events_filters(any_store: Store) -> None:
    e1, e2, e3 = _three(any_store)
    ids = lambda events: [e.id for e in events]  # noqa: E731
    assert ids(any_store.audit_events("model_*")) == [e1.id, e2.id]
    assert ids(any_store.audit_events("model_train")) == [e1.id]
    assert any_store.audit_events("model") == [] and any_store.audit_events("model_") == []  # no star: exact
    assert ids(any_store.audit_events("*")) == [e1.id, e2.id, e3.id]
    assert ids(any_store.audit_events(actor="alice")) == [e1.id, e3.id]
    assert ids(any_store.audit_events(entity="gold_answers")) == [e3.id]
    assert ids(any_store.audit_events(entity_id="ner")) == [e1.id, e2.id]
    assert ids(any_store.audit_events("model_*", actor="alice")) == [e1.id]
    # since inclusive, until exclusive
    assert ids(any_store.audit_events(since=e2.at)) == [e2.id, e3.id]
    assert ids(any_store.audit_events(until=e2.at)) == [e1.id]
    assert ids(any_store.audit_events(since=e2.at, until=e3.at)) == [e2.id]
    assert ids(any_store.audit_events(limit=2)) == [e1.id, e2.id]
    assert ids(any_store.audit_events(limit=2, newest_first=True)) == [e3.id, e2.id]
    assert ids(any_store.audit_events(actor="alice", limit=1, newest_first=True)) == [e3.id]


def test_prefix_filter_treats_underscore_literally(any_store: Store) -> None:
    any_store.audit("alice", "model_train", "model", "ner")
    any_store.audit("alice", "models_listed", "model", "ner")
    assert [e.action for e in any_store.audit_events("model_*")] == ["model_train"]


# -- events written by the store itself ------------------------------------------------------------
def test_promote_writes_a_promote_event(any_store: Store) -> None:
    any_store.register_model_version("ner", "v1")
    any_store.register_model_version("ner", "v2")
    any_store.promote("ner", "v1", actor="alice", reason="first")
    any_store.promote("ner", "v1", actor="alice")  # already there: nothing recorded
    any_store.promote("ner", "v2", actor="bob")
    events = any_store.audit_events("promote")
    assert [(e.actor, e.entity, e.entity_id, e.details) for e in events] == [
        ("alice", "model", "ner", {"alias": "production", "model_version": "v1", "previous_version": None}),
        ("bob", "model", "ner", {"alias": "production", "model_version": "v2", "previous_version": "v1"}),
    ]


def _pred(tid: str, name: str, version: str, taxonomy: str) -> PredictionIn:
    return PredictionIn(
        task_id=tid, model_name=name, model_version=version, taxonomy_version=taxonomy,
        regions=[TextSpan(start=0, end=4, text="note", label="Problem")], score=0.5, uncertainty=0.5,
    )  # fmt: skip


def test_add_predictions_writes_one_predict_event_per_model_version_taxonomy(any_store: Store) -> None:
    any_store.add_tasks([TaskIn(id=f"t{i}", modality="text", source_uri=f"mem://{i}", data={"text": "note"}) for i in range(3)])
    preds = [
        _pred("t0", "ner", "v1", "tx1"), _pred("t1", "ner", "v1", "tx1"),  # (ner, v1, tx1): 2
        _pred("t2", "ner", "v1", "tx2"),  # (ner, v1, tx2): 1
        _pred("t0", "ner", "v2", "tx1"),  # (ner, v2, tx1): 1
        _pred("t0", "other", "v1", "tx1"),  # (other, v1, tx1): 1
    ]  # fmt: skip
    assert any_store.add_predictions(preds) == 5
    got = {(e.entity_id, e.details["model_version"], e.details["taxonomy_version"]): e.details["count"] for e in any_store.audit_events("predict")}
    assert got == {("ner", "v1", "tx1"): 2, ("ner", "v1", "tx2"): 1, ("ner", "v2", "tx1"): 1, ("other", "v1", "tx1"): 1}
    assert all(e.entity == "model" and e.actor == "cliniloop" for e in any_store.audit_events("predict"))
    # the same again: nothing stored, no event
    assert any_store.add_predictions(preds) == 0
    assert len(any_store.audit_events("predict")) == 4
    # make_latest replaces one: one event with count 1
    assert any_store.add_predictions(preds[:1], make_latest=True) == 1
    last = any_store.audit_events("predict", limit=1, newest_first=True)[0]
    assert (last.entity_id, last.details) == ("ner", {"count": 1, "model_version": "v1", "taxonomy_version": "tx1"})
