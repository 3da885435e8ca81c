"""Issue 20, defects 1 and 2: webhooks acknowledge at once, deletions are applied by id (no project
pull), repeats coalesce, reconciliation runs off the request threads, and concurrent upserts of one
annotation never fail on the UNIQUE constraint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cliniloop.connectors.label_studio.memory import InMemoryLabelStudio
from cliniloop.services.api.app import create_app
from cliniloop.services.core.schemas import AnnotationIn, TaskIn
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from tests.services.api.conftest import auth_headers, with_secrets

PID = 3
TEXT = "Patient has pneumonia."


def _result(label: str = "Problem") -> list[dict[str, Any]]:
    return [{"id": "r1", "from_name": "entity", "to_name": "text", "type": "labels",
             "value": {"start": 12, "end": 21, "text": "pneumonia", "labels": [label]}}]  # fmt: skip


@pytest.fixture
def fake(store: Store) -> InMemoryLabelStudio:
    ls = InMemoryLabelStudio()
    store.add_tasks([TaskIn(id=f"t{i}", modality="text", source_uri=f"note-{i}.txt", data={"text": TEXT}) for i in range(3)])
    for i in range(3):
        ls.add_task(PID, {"cliniloop_id": f"t{i}", "text": TEXT})
    return ls


@pytest.fixture
def client(store: Store, fake: InMemoryLabelStudio) -> Iterator[TestClient]:
    settings = Settings(label_studio_url="http://127.0.0.1:9", label_studio_api_key="x" * 40, job_worker=False)
    app = create_app(with_secrets(settings), store)
    with TestClient(app, headers=auth_headers()) as c:
        c.app.state.cliniloop._client = fake  # type: ignore[attr-defined]
        yield c


def _drain(client: TestClient) -> None:
    assert client.app.state.cliniloop.reconciler().drain(10)  # type: ignore[attr-defined]


def test_deletion_webhook_removes_that_annotation_by_id_without_a_project_pull(client: TestClient, store: Store, fake: InMemoryLabelStudio) -> None:
    a1, a2 = fake.annotate(1, _result()), fake.annotate(2, _result())
    for ls_task in (1, 2):
        client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": PID}, "task": {"id": ls_task}, "annotation": {"id": 0}})
    _drain(client)
    assert {a.source_annotation_id for a in store.annotations()} == {f"{PID}:{a1}", f"{PID}:{a2}"}
    fake.delete(a1)
    event = {"action": "ANNOTATIONS_DELETED", "project": {"id": PID}, "annotations": [{"id": a1}]}
    for _ in range(3):  # repeats are harmless
        assert client.post("/webhook", json=event).json()["status"] == "queued"
    _drain(client)
    assert [a.source_annotation_id for a in store.annotations()] == [f"{PID}:{a2}"]
    assert fake.calls.get("iter_project_annotations", 0) == 0, "a deletion must not pull every task"
    assert store.audit_events("annotation_removed")[-1].details == {"count": 1}


def test_deletion_without_ids_falls_back_to_one_coalesced_project_pull(client: TestClient, store: Store, fake: InMemoryLabelStudio) -> None:
    state = client.app.state.cliniloop  # type: ignore[attr-defined]
    slow = threading.Event()
    original = fake.iter_project_annotations

    def blocking(project_id: int, page_size: int = 100):  # the first pull waits, so the rest queue behind it
        slow.wait(5)
        return original(project_id, page_size)

    fake.iter_project_annotations = blocking  # type: ignore[method-assign]
    for _ in range(20):
        client.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "project": {"id": PID}})
    slow.set()
    _drain(client)
    assert state.reconciler().stats.coalesced >= 18, state.reconciler().stats


def test_webhook_and_health_answer_at_once_while_reconciliation_is_slow(client: TestClient, fake: InMemoryLabelStudio) -> None:
    fake.delay_s = 0.5  # each Label Studio read takes half a second
    fake.annotate(1, _result())
    started = time.perf_counter()
    for i in range(10):
        event = {"action": "ANNOTATION_UPDATED", "project": {"id": PID}, "task": {"id": 1 + i % 3}, "annotation": {"id": 1}}
        assert client.post("/webhook", json=event).status_code == 200
        assert client.get("/health").json()["status"] == "UP"
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, f"20 requests took {elapsed:.2f} s behind a slow reconcile"
    _drain(client)


def test_concurrent_upserts_of_one_annotation_do_not_fail_on_unique(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_tasks([TaskIn(id="t0", modality="text", source_uri="note-0.txt", data={"text": TEXT})])
    ann = AnnotationIn(task_id="t0", source="label_studio", source_annotation_id="3:9", annotator="a", regions=[])
    store.upsert_annotation(ann)  # the other handler's insert, already committed
    # this handler's check ran before that insert: its first look finds nothing
    real_scalar, blinded = Session.scalar, {"done": False}

    def scalar(self: Session, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if not blinded["done"] and "annotations" in str(statement):
            blinded["done"] = True
            return None
        return real_scalar(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "scalar", scalar)
    assert store.upsert_annotation(ann) == "unchanged"
    assert blinded["done"] and len(store.annotations("t0")) == 1


def test_webhook_storm_bench_loses_nothing_small() -> None:
    from cliniloop.services.evaluation.bench import webhook_storm

    out = webhook_storm(tasks=20, changes=60, senders=4, ls_delay_s=0.0, timeout_s=60)
    assert out["errors"] == 0 and out["lost"] == 0 and out["extra"] == 0 and out["queue"]["drained"], out
    assert out["deliveries"] > 60 and out["queue"]["coalesced"] > 0
