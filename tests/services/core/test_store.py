from __future__ import annotations

import pytest
from sqlalchemy import inspect

from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, TaskIn, TextSpan, regions_from_json
from cliniloop.services.core.store import Store


def _task(i: int) -> TaskIn:
    return TaskIn(id=f"t{i}", modality="text", source_uri=f"file:///n{i}.txt", data={"text": f"note {i}"})


def _pred(task_id: str, version: str = "v1", u: float = 0.5) -> PredictionIn:
    span = TextSpan(start=0, end=4, text="note", label="Problem", probability=0.7, attributes={"assertion": "absent"})
    return PredictionIn(
        task_id=task_id, model_name="m", model_version=version, taxonomy_version="tx", regions=[span], score=1 - u, uncertainty=u
    )


def test_migrate_is_idempotent_and_creates_tables(any_store: Store) -> None:
    any_store.migrate()
    names = set(inspect(any_store.engine).get_table_names())
    assert {"tasks", "predictions", "annotations", "pushes", "model_versions", "rounds", "audit_events"} <= names
    assert "alembic_version" in names


def test_add_tasks_never_duplicates(any_store: Store) -> None:
    assert any_store.add_tasks([_task(1), _task(2)]) == ["t1", "t2"]
    assert any_store.add_tasks([_task(2), _task(3), _task(3)]) == ["t3"]
    assert [t.id for t in any_store.list_tasks()] == ["t1", "t2", "t3"]


def test_prediction_unique_per_version_and_regions_round_trip(any_store: Store) -> None:
    any_store.add_tasks([_task(1)])
    assert any_store.add_predictions([_pred("t1")]) == 1
    assert any_store.add_predictions([_pred("t1")]) == 0
    assert any_store.add_predictions([_pred("t1", "v2", 0.9)]) == 1
    latest = any_store.latest_predictions("m")["t1"]
    assert latest.model_version == "v2"
    region = regions_from_json(latest.regions)[0]
    assert isinstance(region, TextSpan) and region.attributes["assertion"] == "absent"


def test_prediction_for_unknown_task_rolls_back(any_store: Store) -> None:
    any_store.add_tasks([_task(1)])
    with pytest.raises(Exception):
        any_store.add_predictions([_pred("t1"), _pred("missing")])
    assert any_store.latest_predictions("m") == {}


def test_annotation_upsert_update_and_delete(any_store: Store) -> None:
    any_store.add_tasks([_task(1)])
    span = TextSpan(start=0, end=4, text="note", label="Problem")
    ann = AnnotationIn(task_id="t1", source_annotation_id="1:5", regions=[span])
    assert any_store.upsert_annotation(ann) == "created"
    assert any_store.upsert_annotation(ann) == "unchanged"
    relabelled = ann.model_copy(update={"regions": [span.model_copy(update={"label": "Test"})]})
    assert any_store.upsert_annotation(relabelled) == "updated"
    assert len(any_store.annotations("t1")) == 1 and any_store.annotations("t1")[0].regions[0]["label"] == "Test"
    other = AnnotationIn(task_id="t1", source_annotation_id="1:6", regions=[])
    any_store.upsert_annotation(other)
    assert any_store.remove_annotations_except("t1", "label_studio", ["1:6"], prefix="1:") == 1
    assert [a.source_annotation_id for a in any_store.annotations()] == ["1:6"]


def test_pushes_and_versions(any_store: Store) -> None:
    any_store.add_tasks([_task(1), _task(2)])
    any_store.record_pushes("ls/projects/1", {"t1": 10}, "v1")
    any_store.record_pushes("ls/projects/1", {"t1": 10, "t2": 11}, "v2")
    assert any_store.pushed("ls/projects/1") == {"t1": 10, "t2": 11}
    assert any_store.pushed_versions("ls/projects/1") == {"t1": "v2", "t2": "v2"}
    assert any_store.task_id_for_external("ls/projects/1", 11) == "t2"
    assert any_store.pushed("ls/projects/2") == {}


def test_model_versions_and_promotion_pointer(any_store: Store) -> None:
    any_store.register_model_version("m", "v1", metrics={"f1": 0.5})
    again = any_store.register_model_version("m", "v1", metrics={"f1": 0.9})
    assert again.metrics == {"f1": 0.5}, "versions are immutable"
    with pytest.raises(KeyError):
        any_store.promote("m", "v9")
    any_store.promote("m", "v1")
    assert any_store.alias("m") == "v1"
    any_store.register_model_version("m", "v2", parent="v1")
    any_store.promote("m", "v2")
    assert any_store.alias("m") == "v2"


def test_model_version_registered_at_once_by_two_processes_returns_the_stored_one(any_store: Store) -> None:
    """Two workers that finish at once both register the version: the loser of the insert reads the winner's."""
    from sqlalchemy import event

    other = Store(any_store.url)
    seen: list[str] = []

    @event.listens_for(any_store._sessions, "before_flush", once=True)
    def _other_wins(session, flush_context, instances) -> None:  # between our "is it there?" and our insert
        seen.append(other.register_model_version("m", "v1", metrics={"f1": 0.7}).version)

    row = any_store.register_model_version("m", "v1", metrics={"f1": 0.5})
    other.close()
    assert seen == ["v1"], "the race was not staged"
    assert (row.version, row.metrics) == ("v1", {"f1": 0.7})
    assert any_store.model_versions("m") == ["v1"]


def test_rounds_and_audit(any_store: Store) -> None:
    rid = any_store.add_round("uncertainty", "m", "v1", 2, ["t1", "t2"])
    any_store.mark_round_pushed(rid)
    assert any_store.rounds()[0].pushed and any_store.rounds()[0].selected_task_ids == ["t1", "t2"]
    any_store.audit("me", "push", "project", "p1", created=2)
    ev = any_store.audit_events("push")[0]
    assert (ev.actor, ev.entity_id, ev.details) == ("me", "p1", {"created": 2})
    assert any_store.counts()["rounds"] == 1
