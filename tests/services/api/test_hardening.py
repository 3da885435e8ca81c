"""Issue 19 (outside review): no 500 on bad input, credentials before the body, bounded bodies and
audit fields, role checks on webhook actions, the API description behind a token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cliniloop.services.api.app import create_app
from cliniloop.services.core.access import WEBHOOK_SECRET_HEADER
from cliniloop.services.core.audit import MAX_FIELD_CHARS
from cliniloop.services.core.store import Store
from tests.services.api.conftest import TOKENS, WEBHOOK_SECRET
from tests.services.api.test_auth import app_settings

HOOK = {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
LIMIT = 64 * 1024


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    settings = app_settings(tmp_path).model_copy(update={"max_body_bytes": LIMIT})
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as c:
        yield c


# -- defect 3: six requests that answered 500 -------------------------------------------------------
BAD_REQUESTS = [
    ("POST", "/webhook", {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "annotation": "9"}, HOOK),
    ("POST", "/webhook", {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "annotation": [1, 2]}, HOOK),
    ("POST", "/webhook", {"action": "A" * 301, "project": {"id": 3}}, HOOK),
    ("POST", "/predict", {"tasks": "not a list"}, bearer("annotator")),
    ("POST", "/predict", {"tasks": [1, 2, 3]}, bearer("annotator")),
    ("POST", "/predict", {"tasks": [{"id": 1, "data": "text"}]}, bearer("annotator")),
    ("GET", "/api/jobs/99999999999999999999999", None, bearer("engineer")),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), BAD_REQUESTS, ids=[
    "annotation-string", "annotation-list", "long-action", "tasks-string", "tasks-ints", "data-string", "job-id-overflow"
])  # fmt: skip
def test_bad_input_answers_4xx_with_a_message(client: TestClient, store: Store, method: str, path: str, body: Any, headers: dict) -> None:
    resp = client.request(method, path, json=body, headers=headers)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["detail"]
    assert store.audit_events("webhook") == [] and store.jobs() == []


def test_predict_with_a_list_as_cliniloop_id_is_answered(client: TestClient) -> None:
    body = {"tasks": [{"id": 1, "data": {"cliniloop_id": ["a", "b"]}}]}
    resp = client.post("/predict", json=body, headers=bearer("annotator"))
    assert resp.status_code == 200 and resp.json()["results"][0]["result"] == []


@pytest.mark.parametrize("project", [{"id": "²"}, {"id": 10**30}, "3" * 5000, {"id": True}])
def test_odd_webhook_ids_are_ignored_not_crashed_on(client: TestClient, store: Store, project: Any) -> None:
    resp = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": project}, headers=HOOK)
    assert resp.status_code in (200, 422), resp.text
    for e in store.audit_events("webhook"):
        assert e.entity_id == "None"


# -- defect 4: credentials before the body; the body is bounded --------------------------------------
def _events(store: Store) -> list[tuple[str, str | None, int]]:
    return [(e.action, e.entity_id, e.details.get("status")) for e in store.audit_events()]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'{"tasks": []}'],
    ids=["invalid-json", "deep-nesting", "valid"],
)
def test_no_credentials_is_401_whatever_the_body(client: TestClient, store: Store, content: bytes) -> None:
    resp = client.post("/predict", content=content, headers={"Content-Type": "application/json"})
    assert resp.status_code == 401
    assert _events(store) == [("access_denied", "/predict", 401)]


def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """Drive the ASGI app directly; return (status, body chunks the app asked for)."""
    asked = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal asked
        asked += 1
        if asked <= len(chunks):
            return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": app,
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), asked


def test_a_refused_request_body_is_never_read(client: TestClient, store: Store) -> None:
    big = [b"x" * (1024 * 1024)] * 50  # 50 MB, announced
    headers = [(b"content-type", b"application/json"), (b"content-length", str(50 * 1024 * 1024).encode())]
    status, asked = _call(client.app, "/predict", headers, big)
    assert (status, asked) == (401, 0)
    status, asked = _call(client.app, "/api/train", [*headers, (b"authorization", f"Bearer {TOKENS['annotator']}".encode())], big)
    assert (status, asked) == (403, 0)
    assert [e[2] for e in _events(store)] == [401, 403]


def test_bodies_over_the_limit_answer_413(client: TestClient, store: Store) -> None:
    auth = [(b"authorization", f"Bearer {TOKENS['annotator']}".encode()), (b"content-type", b"application/json")]
    # announced: refused before reading
    status, asked = _call(client.app, "/predict", [*auth, (b"content-length", str(LIMIT + 1).encode())], [b"{}"])
    assert (status, asked) == (413, 0)
    # streamed without a length: refused once the limit is passed, not read to the end
    chunks = [b'{"tasks": [' + b" " * 40_000, b" " * 40_000, b" " * 40_000, b"]}"]
    status, asked = _call(client.app, "/predict", auth, chunks)
    assert (status, asked) == (413, 2)
    # at the limit: fine
    body = json.dumps({"tasks": []}).encode()
    status, _ = _call(client.app, "/predict", [*auth, (b"content-length", str(len(body)).encode())], [body])
    assert status == 200
    assert client.post("/predict", content=b"{" + b" " * LIMIT + b"}", headers=bearer("annotator")).status_code == 413
    assert store.audit_events("access_denied") == []


# -- defect 5: a refused request writes one bounded event ---------------------------------------------
def test_a_refused_long_path_is_audited_bounded(client: TestClient, store: Store) -> None:
    path = "/api/" + "x" * 20_016
    resp = client.get(path)
    assert resp.status_code == 401
    [event] = store.audit_events()
    assert event.action == "access_denied" and len(event.entity_id) <= MAX_FIELD_CHARS["entity_id"]
    assert event.entity_id.startswith("/api/xxx") and "chars)" in event.entity_id
    assert all(len(str(v)) <= 300 for v in event.details.values())


# -- defect 6: the annotator token may not start training through /webhook -----------------------------
def test_annotator_token_may_not_start_training_through_the_webhook(client: TestClient, store: Store) -> None:
    resp = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}, auth=("label-studio", TOKENS["annotator"]))
    assert resp.status_code == 403 and "engineer" in resp.json()["detail"]
    assert store.jobs() == [] and store.audit_events("train_requested") == [] and store.audit_events("webhook") == []
    [event] = store.audit_events()
    assert (event.action, event.actor, event.details["status"]) == ("access_denied", "annotator", 403)
    # other events from that connection are its own, recorded as its role
    resp = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 3}}, auth=("label-studio", TOKENS["annotator"]))
    assert resp.status_code == 200
    assert [e.actor for e in store.audit_events("webhook")] == ["api:annotator"]
    # the shared secret is Label Studio's own channel
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}, headers=HOOK).status_code == 200
    assert [e.actor for e in store.audit_events("train_requested")] == ["label_studio"]


# -- defect 8: the API description needs a token --------------------------------------------------------
@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect", "/no-such-path"])
def test_only_health_is_open(client: TestClient, store: Store, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer("annotator")).status_code in (200, 404)
    assert client.get("/health").status_code == 200
    assert [e[0] for e in _events(store)] == ["access_denied"]


# -- defect 10: who asked for training ---------------------------------------------------------------------
def test_train_request_records_the_role(client: TestClient, store: Store) -> None:
    resp = client.post("/api/train", json={}, headers=bearer("engineer"))
    assert resp.status_code == 202
    job = store.job(resp.json()["job_id"])
    assert job.requested_by == "api:engineer"
    [event] = store.audit_events("train_requested")
    assert (event.actor, event.details["job_id"]) == ("api:engineer", job.id)
