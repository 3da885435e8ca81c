from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cliniloop.services.api.app import create_app
from tests.services.api.conftest import auth_headers, with_secrets
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.jobs import JOB_KINDS, TRAIN_TEXT
from cliniloop.services.loop.predict import NER_MODEL_NAME


def _wait_for_job(client: TestClient, job_id: int, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout_s} s"
        time.sleep(0.05)


@pytest.fixture
def app_settings(train_settings: Settings) -> Settings:
    # Label Studio on a port nothing listens on: reconciles fail softly, promotions note it
    return train_settings.model_copy(update={"label_studio_url": "http://127.0.0.1:9", "label_studio_api_key": "k" * 40})


@pytest.fixture
def client(store: Store, app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(with_secrets(app_settings), store), headers=auth_headers()) as c:
        yield c


class GatedJob:
    """A stand-in for training that runs until the test opens the gate."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()
        self.calls = 0

    def __call__(self, store: Store, settings: Settings, progress, *, params: dict[str, Any], actor: str) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        progress(0.1, "training (gated)")
        if not self.gate.wait(30):
            raise TimeoutError("gate never opened")
        return {"version": "crf-gated", "promoted": False, "reason": "test"}


def test_webhook_start_training_answers_within_a_second_while_the_job_runs(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = GatedJob()
    monkeypatch.setitem(JOB_KINDS, TRAIN_TEXT, slow)
    t0 = time.perf_counter()
    resp = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}})
    elapsed = time.perf_counter() - t0
    assert resp.status_code == 200 and elapsed < 1.0, f"webhook took {elapsed:.2f} s"
    body = resp.json()
    assert body["status"] == "queued" and isinstance(body["job_id"], int)
    job_id = body["job_id"]
    assert client.get(f"/api/jobs/{job_id}").json()["status"] in ("queued", "running")
    assert slow.started.wait(10), "the worker thread picked the job up"
    running = client.get(f"/api/jobs/{job_id}").json()
    assert running["status"] == "running" and running["finished_at"] is None

    # a burst while it runs: one new queued job absorbs all of them
    t0 = time.perf_counter()
    ids = [client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}).json()["job_id"] for _ in range(3)]
    assert time.perf_counter() - t0 < 3.0
    assert ids[0] != job_id and ids == [ids[0]] * 3
    assert client.get(f"/api/jobs/{ids[0]}").json()["status"] == "queued"

    slow.gate.set()
    done = _wait_for_job(client, job_id)
    assert done["status"] == "succeeded" and done["result"]["version"] == "crf-gated" and done["progress"] == 1.0
    assert _wait_for_job(client, ids[0])["status"] == "succeeded"
    assert slow.calls == 2
    events = store.audit_events("train_requested")
    assert [e.details["job_id"] for e in events] == [job_id, *ids]


def test_train_endpoint_runs_real_training_off_the_request_path(client: TestClient, store: Store, label_tasks) -> None:
    label_tasks(20)
    before = client.post("/predict", json={"tasks": [{"id": 1, "data": {"text": "No chest pain. Started aspirin."}}]}).json()
    assert "+" not in before["results"][0]["model_version"], "rules alone before any training"
    t0 = time.perf_counter()
    resp = client.post("/api/train", json={"max_iterations": 15})
    assert resp.status_code == 202 and time.perf_counter() - t0 < 1.0
    job_id = resp.json()["job_id"]
    assert resp.json()["url"] == f"/api/jobs/{job_id}"
    job = _wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    assert result["promoted"] and job["params"] == {"max_iterations": 15} and job["requested_by"] == "api:admin"
    assert not result["refresh"]["label_studio_updated"], "Label Studio is down: the promotion stands anyway"
    models = client.get("/api/models").json()
    assert models["name"] == NER_MODEL_NAME and models["promoted"] == result["version"]
    assert models["versions"][0]["version"] == result["version"] and models["versions"][0]["promoted"]
    assert models["versions"][0]["metrics"]["f1"] == result["metrics"]["f1"]
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]
    # the app's text model follows the promoted version
    after = client.post("/predict", json={"tasks": [{"id": 1, "data": {"text": "No chest pain. Started aspirin."}}]}).json()
    assert after["results"][0]["model_version"].endswith("+" + result["version"])
    assert client.post("/setup", json={}).json()["model_version"] == after["results"][0]["model_version"]


def test_unknown_job_is_404_and_bad_params_422(client: TestClient) -> None:
    assert client.get("/api/jobs/999").status_code == 404
    assert client.post("/api/train", json={"max_iterations": 0}).status_code == 422
    resp = client.post("/api/train")  # no body: defaults
    assert resp.status_code == 202
    job = _wait_for_job(client, resp.json()["job_id"])
    assert job["status"] == "failed" and "NotEnoughLabels: 0 annotated text task(s)" in job["error"]
    listing = client.get("/api/models").json()
    assert listing.pop("deployment")["setting"] == "auto"  # how this deployment picks its tagger (issue 26)
    assert listing == {"name": NER_MODEL_NAME, "promoted": None, "versions": [], "history": []}


def test_annotation_webhooks_queue_training_every_n_annotations(store: Store, train_settings: Settings, label_tasks) -> None:
    # no Label Studio key: each reconcile fails at once, and the annotations come from label_tasks
    settings = train_settings.model_copy(update={"train_every_annotations": 3, "job_worker": False})
    with TestClient(create_app(with_secrets(settings), store), headers=auth_headers()) as client:
        event = {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 41}, "annotation": {"id": 9, "task": 41}}
        drain = lambda: client.app.state.cliniloop.reconciler().drain(10)  # noqa: E731 - reconciled off the request thread
        label_tasks(2)
        assert client.post("/webhook", json=event).json()["status"] == "queued"
        assert drain() and store.jobs() == [], "2 annotations < 3"
        label_tasks(3)
        client.post("/webhook", json=event)
        assert drain()
        (job,) = store.jobs()
        assert job.kind == TRAIN_TEXT and job.status == "queued" and "ANNOTATION_CREATED" in job.requested_by
        client.post("/webhook", json=event)
        assert drain() and len(store.jobs()) == 1, "no new annotation since the request"
    with TestClient(create_app(with_secrets(train_settings.model_copy(update={"job_worker": False})), store), headers=auth_headers()) as client:
        label_tasks(10)
        client.post("/webhook", json=event)
        assert client.app.state.cliniloop.reconciler().drain(10)
        assert len(store.jobs()) == 1, "train_every_annotations=0: annotations never queue training"
