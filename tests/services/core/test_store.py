from __future__ import annotations

import pytest
from sqlalchemy import inspect

from services.core.schemas import AnnotationIn, PredictionIn, TaskIn, TextSpan, regions_from_json
from services.core.store import Store


def _task(i: int) -> TaskIn:
    return TaskIn(id=f"t{i}", modality="text", source_uri=f"file:///n{i}.txt", data={"text": f"note {i}"})


def _pred(task_id: str, version: str = "v1", u: float = 0.5) -> PredictionIn:
    span = TextSpan(start=0, end=4, text="note", label="Problem", probability=0.7, attributes={"assertion": "absent"})
    return PredictionIn(
        task_id=task_id, model_name="m", model_version=version, taxonomy_version="tx", regions=[span], score=1 - u, uncertainty=u
    )


def test_migrate_is_idempotent_and_creates_tables(store: Store) -> None:
    store.migrate()
    names = set(inspect(store.engine).get_table_names())
    assert {"tasks", "predictions", "annotations", "pushes", "model_versions", "rounds", "audit_events"} <= names
    assert "alembic_version" in names


def test_add_tasks_never_duplicates(store: Store) -> None:
    assert store.add_tasks([_task(1), _task(2)]) == ["t1", "t2"]
    assert store.add_tasks([_task(2), _task(3), _task(3)]) == ["t3"]
    assert [t.id for t in store.list_tasks()] == ["t1", "t2", "t3"]


def test_prediction_unique_per_version_and_regions_round_trip(store: Store) -> None:
    store.add_tasks([_task(1)])
    assert store.add_predictions([_pred("t1")]) == 1
    assert store.add_predictions([_pred("t1")]) == 0
    assert store.add_predictions([_pred("t1", "v2", 0.9)]) == 1
    latest = store.latest_predictions("m")["t1"]
    assert latest.model_version == "v2"
    region = regions_from_json(latest.regions)[0]
    assert isinstance(region, TextSpan) and region.attributes["assertion"] == "absent"


def test_prediction_for_unknown_task_rolls_back(store: Store) -> None:
    store.add_tasks([_task(1)])
    with pytest.raises(Exception):
        store.add_predictions([_pred("t1"), _pred("missing")])
    assert store.latest_predictions("m") == {}


def test_annotation_upsert_update_and_delete(store: Store) -> None:
    store.add_tasks([_task(1)])
    span = TextSpan(start=0, end=4, text="note", label="Problem")
    ann = AnnotationIn(task_id="t1", source_annotation_id="1:5", regions=[span])
    assert store.upsert_annotation(ann) == "created"
    assert store.upsert_annotation(ann) == "unchanged"
    relabelled = ann.model_copy(update={"regions": [span.model_copy(update={"label": "Test"})]})
    assert store.upsert_annotation(relabelled) == "updated"
    assert len(store.annotations("t1")) == 1 and store.annotations("t1")[0].regions[0]["label"] == "Test"
    other = AnnotationIn(task_id="t1", source_annotation_id="1:6", regions=[])
    store.upsert_annotation(other)
    assert store.remove_annotations_except("t1", "label_studio", ["1:6"], prefix="1:") == 1
    assert [a.source_annotation_id for a in store.annotations()] == ["1:6"]


def test_pushes_and_versions(store: Store) -> None:
    store.add_tasks([_task(1), _task(2)])
    store.record_pushes("ls/projects/1", {"t1": 10}, "v1")
    store.record_pushes("ls/projects/1", {"t1": 10, "t2": 11}, "v2")
    assert store.pushed("ls/projects/1") == {"t1": 10, "t2": 11}
    assert store.pushed_versions("ls/projects/1") == {"t1": "v2", "t2": "v2"}
    assert store.task_id_for_external("ls/projects/1", 11) == "t2"
    assert store.pushed("ls/projects/2") == {}


def test_model_versions_and_promotion_pointer(store: Store) -> None:
    store.register_model_version("m", "v1", metrics={"f1": 0.5})
    again = store.register_model_version("m", "v1", metrics={"f1": 0.9})
    assert again.metrics == {"f1": 0.5}, "versions are immutable"
    with pytest.raises(KeyError):
        store.promote("m", "v9")
    store.promote("m", "v1")
    assert store.alias("m") == "v1"
    store.register_model_version("m", "v2", parent="v1")
    store.promote("m", "v2")
    assert store.alias("m") == "v2"


def test_rounds_and_audit(store: Store) -> None:
    rid = store.add_round("uncertainty", "m", "v1", 2, ["t1", "t2"])
    store.mark_round_pushed(rid)
    assert store.rounds()[0].pushed and store.rounds()[0].selected_task_ids == ["t1", "t2"]
    store.audit("me", "push", "project", "p1", created=2)
    ev = store.audit_events("push")[0]
    assert (ev.actor, ev.entity_id, ev.details) == ("me", "p1", {"created": 2})
    assert store.counts()["rounds"] == 1
