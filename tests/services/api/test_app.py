from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cliniloop.services.api.app import create_app
from tests.services.api.conftest import auth_headers, with_secrets
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import TEXT_MODEL_NAME

NOTE = "Patient denies chest pain. Possible pneumonia. Mother had breast cancer."


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    # Label Studio on a port nothing listens on: background reconciles must fail softly.
    settings = Settings(label_studio_url="http://127.0.0.1:9", label_studio_api_key="x" * 40)
    with TestClient(create_app(with_secrets(settings), store), headers=auth_headers()) as c:
        yield c


def test_health_setup_versions_answer_without_model(client: TestClient, store: Store) -> None:
    assert client.get("/health").json()["status"] == "UP"
    assert client.post("/setup", json={"project": "1.123", "schema": "<View/>"}).json() == {"model_version": "cliniloop-text"}
    store.register_model_version(TEXT_MODEL_NAME, "v-a")
    store.register_model_version(TEXT_MODEL_NAME, "v-b")
    store.promote(TEXT_MODEL_NAME, "v-a")
    assert client.post("/setup", json={}).json() == {"model_version": "v-a"}
    assert client.get("/versions").json() == {"versions": ["v-a", "v-b"]}
    assert client.app.state.cliniloop._model is None, "setup/health must not build the model"


def test_predict_computes_for_tasks_without_stored_prediction(client: TestClient) -> None:
    body = {"tasks": [{"id": 7, "data": {"text": NOTE}}, {"id": 8, "data": {"image": "x.png"}}], "project": "1.1"}
    results = client.post("/predict", json=body).json()["results"]
    assert len(results) == 2
    first = results[0]
    assert first["model_version"].startswith("medspacy-rules-")
    labels = {r["value"]["text"]: r["value"]["labels"][0] for r in first["result"] if r["type"] == "labels"}
    # the assertion is the span's mark label after its entity label (present: none)
    assertions = {r["value"]["text"]: (r["value"]["labels"][1:] or ["present"])[0] for r in first["result"] if r["type"] == "labels"}
    assert labels["chest pain"] == "Problem" and assertions["chest pain"] == "absent"
    assert assertions["breast cancer"] == "family"
    assert 0.0 <= first["score"] <= 1.0
    assert results[1]["result"] == []


def test_webhook_acknowledges_and_audits_even_when_label_studio_is_down(client: TestClient, store: Store) -> None:
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 41}, "annotation": {"id": 9, "task": 41}}
    resp = client.post("/webhook", json=payload)
    assert resp.status_code == 200 and resp.json()["status"] == "queued"
    events = store.audit_events("webhook")
    assert events[-1].details == {"event": "ANNOTATION_CREATED", "task": 41}
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).json()["status"] == "ignored"
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}).json()["status"] == "queued"
    assert store.audit_events("train_requested")
    assert store.annotations() == []
