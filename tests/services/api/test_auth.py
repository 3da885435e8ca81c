"""Access control: tokens per role on every route but /health, the shared secret on webhooks.

Refused requests answer 401/403, change nothing but one ``access_denied`` audit event, and no
token or secret ever reaches a log (in-process and in the real server's log file).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cliniloop.services.api.app import create_app
from cliniloop.services.core.access import ROLES, WEBHOOK_SECRET_HEADER, allows
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from tests.services.api.conftest import TOKENS, WEBHOOK_SECRET, with_secrets

ALL_SECRETS = [*TOKENS.values(), WEBHOOK_SECRET]
NER = "clinical-ner"

# (method, path, role needed, JSON body)
ROUTES: list[tuple[str, str, str, Any]] = [
    ("POST", "/setup", "annotator", {}),
    ("GET", "/versions", "annotator", None),
    ("POST", "/predict", "annotator", {"tasks": []}),
    ("GET", "/api/status", "annotator", None),
    ("POST", "/api/train", "engineer", {}),
    ("GET", "/api/jobs", "engineer", None),
    ("GET", "/api/jobs/1", "engineer", None),
    ("GET", "/api/models", "engineer", None),
    ("GET", "/api/quality/agreement", "engineer", None),
    ("GET", "/api/quality/gold", "engineer", None),
    ("GET", "/api/quality/suggestions", "engineer", None),
    ("GET", "/api/adjudications", "engineer", None),
    ("GET", "/dashboard", "engineer", None),
    ("GET", "/api/audit", "admin", None),
    ("POST", f"/api/models/{NER}/promote", "admin", {"version": "v-unknown"}),
    ("POST", f"/api/models/{NER}/rollback", "admin", None),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in ROUTES]


def app_settings(tmp_path: Path) -> Settings:
    # Label Studio on a port nothing listens on: background reconciles fail fast and softly
    settings = Settings(
        _env_file=None, var_dir=tmp_path / "var", label_studio_url="http://127.0.0.1:9", label_studio_api_key="x" * 40, job_worker=False
    )
    return with_secrets(settings)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    """A client with no credentials of its own (each request brings its own)."""
    # server errors become 500s: this file is about who gets in, not what the routes answer
    with TestClient(create_app(app_settings(tmp_path), store), raise_server_exceptions=False) as c:
        yield c


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def send(client: TestClient, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    return client.request(method, path, json=body, **kwargs)


def test_health_needs_nothing(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.json()["status"] == "UP"


@pytest.mark.parametrize(("method", "path", "needed", "body"), ROUTES, ids=ROUTE_IDS)
def test_no_credentials_is_401_with_a_challenge(client: TestClient, method: str, path: str, needed: str, body: Any) -> None:
    resp = send(client, method, path, body)
    assert resp.status_code == 401, resp.text
    challenge = resp.headers.get("www-authenticate", "")
    assert "Bearer" in challenge and "Basic" in challenge


@pytest.mark.parametrize(("method", "path", "needed", "body"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token-0123456789abcdef",
        "Bearer ",
        f"Bearer {WEBHOOK_SECRET}",  # the webhook secret is no API token
        f"Token {TOKENS['admin']}",  # an unknown scheme
        "Basic " + base64.b64encode(b"user:wrong-password-0123456789").decode(),
        "Basic " + base64.b64encode(f"{TOKENS['admin']}:".encode()).decode(),  # the token as user name, no password
        "Basic !!!not-base64!!!",
    ],
    ids=["wrong-bearer", "empty-bearer", "webhook-secret", "other-scheme", "wrong-basic", "token-as-user", "bad-base64"],
)
def test_wrong_credentials_are_401(client: TestClient, method: str, path: str, needed: str, body: Any, authorization: str) -> None:
    resp = send(client, method, path, body, headers={"Authorization": authorization})
    assert resp.status_code == 401, resp.text
    assert "www-authenticate" in resp.headers


@pytest.mark.parametrize(("method", "path", "needed", "body"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_in_where_it_may_and_only_there(
    client: TestClient, method: str, path: str, needed: str, body: Any, role: str
) -> None:
    resp = send(client, method, path, body, headers=bearer(role))
    if allows(role, needed):
        assert resp.status_code not in (401, 403), resp.text
    else:
        assert resp.status_code == 403, resp.text
        assert "www-authenticate" not in resp.headers
        assert role in resp.json()["detail"] and needed in resp.json()["detail"]


def test_examples_of_too_low_a_role(client: TestClient) -> None:
    assert client.post("/api/train", json={}, headers=bearer("annotator")).status_code == 403
    assert client.get("/api/audit", headers=bearer("engineer")).status_code == 403
    assert client.post(f"/api/models/{NER}/promote", json={"version": "v"}, headers=bearer("engineer")).status_code == 403
    assert client.get("/dashboard", headers=bearer("annotator")).status_code == 403


def test_refusal_comes_before_validation_of_the_request(client: TestClient) -> None:
    # a bad body or query must not tell an anonymous caller anything: auth answers first
    assert client.post(f"/api/models/{NER}/promote", json={"nope": 1}, headers=bearer("engineer")).status_code == 403
    assert client.get("/api/audit?limit=0&format=xml").status_code == 401
    assert client.get("/api/jobs/not-a-number").status_code == 401


def test_http_basic_with_the_token_as_password(client: TestClient) -> None:
    """How Label Studio's ML backend connection sends credentials."""
    resp = client.post("/setup", json={"project": "1.1", "schema": "<View/>"}, auth=("label-studio", TOKENS["annotator"]))
    assert resp.status_code == 200 and "model_version" in resp.json()
    assert client.get("/versions", auth=("", TOKENS["annotator"])).status_code == 200
    assert client.get("/api/jobs", auth=("x", TOKENS["engineer"])).status_code == 200
    assert client.get("/api/jobs", auth=("x", TOKENS["annotator"])).status_code == 403
    assert client.get("/api/audit", auth=("x", TOKENS["admin"])).status_code == 200
    assert client.get("/versions", auth=("label-studio", "wrong-password-0123456789")).status_code == 401


def test_webhook_needs_the_shared_secret(client: TestClient, store: Store) -> None:
    body = {"action": "PROJECT_UPDATED", "project": {"id": 3}}
    resp = client.post("/webhook", json=body)
    assert resp.status_code == 401 and WEBHOOK_SECRET_HEADER in resp.json()["detail"]
    assert client.post("/webhook", json=body, headers={WEBHOOK_SECRET_HEADER: "wrong-secret-0123456789abcdef"}).status_code == 403
    assert client.post("/webhook", json=body, headers={WEBHOOK_SECRET_HEADER: ""}).status_code == 403
    # an API token is not the webhook secret, whatever its role
    assert client.post("/webhook", json=body, headers={**bearer("admin"), WEBHOOK_SECRET_HEADER: TOKENS["admin"]}).status_code == 403
    assert client.post("/webhook", json=body, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert store.audit_events("webhook") == []
    resp = client.post("/webhook", json=body, headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET})
    assert resp.status_code == 200 and resp.json()["status"] == "ignored"
    assert [e.details["event"] for e in store.audit_events("webhook")] == ["PROJECT_UPDATED"]


@pytest.mark.parametrize("role", ["engineer", "admin"])
def test_webhook_from_the_ml_backend_connection_may_bring_a_token_instead(client: TestClient, store: Store, role: str) -> None:
    """Label Studio's ML-backend connection posts START_TRAINING with its HTTP Basic credentials, no secret header."""
    body = {"action": "START_TRAINING", "project": {"id": 3}}
    resp = client.post("/webhook", json=body, auth=("label-studio", TOKENS[role]))
    assert resp.status_code == 200 and resp.json()["status"] == "queued"
    assert len(store.jobs()) == 1
    # recorded as the token's role, not as Label Studio
    assert {e.actor for e in store.audit_events("train_requested")} == {f"api:{role}"}
    # a wrong secret header is not rescued by a valid token
    assert client.post("/webhook", json=body, headers={**bearer(role), WEBHOOK_SECRET_HEADER: "wrong-secret-0123456789abcdef"}).status_code == 403


def _refused_requests(client: TestClient) -> list[tuple[str, str, int]]:
    """Send refused requests of every kind; return (method, path, status) of each."""
    wrong_secret = {WEBHOOK_SECRET_HEADER: "wrong-secret-0123456789abcdef"}
    requests: list[tuple[str, str, dict[str, Any], dict[str, str], int]] = [
        ("POST", "/api/train", {"max_iterations": 3}, {}, 401),
        ("POST", "/api/train", {}, bearer("annotator"), 403),
        ("POST", "/webhook", {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 41}, "annotation": {"id": 9, "task": 41}}, {}, 401),
        ("POST", "/webhook", {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 41}, "annotation": {"id": 9, "task": 41}}, wrong_secret, 403),
        ("POST", "/webhook", {"action": "START_TRAINING", "project": {"id": 3}}, {}, 401),
        ("POST", "/webhook", {"action": "START_TRAINING", "project": {"id": 3}}, wrong_secret, 403),
        ("POST", "/predict", {"tasks": [{"id": 7, "data": {"text": "Patient denies chest pain."}}]}, {}, 401),
        ("POST", "/predict", {"tasks": [{"id": 7, "data": {"text": "Patient denies chest pain."}}]}, {"Authorization": "Bearer wrong-token-0123456789"}, 401),
        ("POST", f"/api/models/{NER}/promote", {"version": "v2"}, {}, 401),
        ("POST", f"/api/models/{NER}/promote", {"version": "v2"}, bearer("engineer"), 403),
        ("POST", f"/api/models/{NER}/rollback", None, bearer("annotator"), 403),
        ("GET", "/api/audit", None, bearer("engineer"), 403),
    ]
    sent = []
    for method, path, body, headers, expected in requests:
        resp = client.request(method, path, json=body, headers=headers)
        assert resp.status_code == expected, (method, path, headers, resp.status_code, resp.text)
        sent.append((method, path, expected))
    return sent


def test_refused_requests_leave_no_trace_but_one_audit_event_each(client: TestClient, store: Store) -> None:
    store.register_model_version(NER, "v1")
    store.register_model_version(NER, "v2")
    store.promote(NER, "v1")
    before = store.counts()
    events_before = {e.id for e in store.audit_events()}

    sent = _refused_requests(client)

    after = store.counts()
    assert {k: v for k, v in after.items() if k != "audit_events"} == {k: v for k, v in before.items() if k != "audit_events"}
    assert after["audit_events"] == before["audit_events"] + len(sent)
    new = [e for e in store.audit_events() if e.id not in events_before]
    assert [e.action for e in new] == ["access_denied"] * len(sent)
    assert [(e.details["method"], e.entity_id, e.details["status"]) for e in new] == sent
    for e in new:
        assert e.entity == "api"
        assert set(e.details) == {"method", "status", "reason"}
        assert isinstance(e.details["reason"], str) and e.details["reason"]
        expected_actor = "anonymous" if e.details["status"] == 401 else None
        if expected_actor:
            assert e.actor == expected_actor
        else:
            assert e.actor in ROLES or e.entity_id == "/webhook"
        fields = json.dumps([e.actor, e.action, e.entity, e.entity_id, e.details, str(e.at)])
        for secret in [*ALL_SECRETS, "wrong-secret-0123456789abcdef", "wrong-token-0123456789"]:
            assert secret not in fields
    # nothing happened: no job, no annotation, no webhook audit, the alias did not move, no model built
    assert store.jobs() == []
    assert store.annotations() == []
    assert store.audit_events("webhook") == [] and store.audit_events("train_requested") == []
    assert store.audit_events("model_*") == [] and store.alias(NER) == "v1"
    assert client.app.state.cliniloop._model is None


def test_accepted_requests_do_leave_their_trace(client: TestClient, store: Store) -> None:
    """The counterpart of the test above: the same requests with the right credentials change the store."""
    store.register_model_version(NER, "v1")
    resp = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}, headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET})
    assert resp.status_code == 200 and resp.json()["status"] == "queued"
    assert client.post("/api/train", json={}, headers=bearer("engineer")).status_code == 202
    assert client.post(f"/api/models/{NER}/promote", json={"version": "v1"}, headers=bearer("admin")).status_code == 200
    assert len(store.jobs()) == 1  # the two requests coalesce into one queued job
    assert store.audit_events("webhook") and store.audit_events("train_requested")
    assert store.alias(NER) == "v1"
    assert store.audit_events("access_denied") == []


def _assert_no_secret_in(text: str, where: str) -> None:
    for secret in ALL_SECRETS:
        assert secret not in text, f"a secret appears in {where}"
        assert base64.b64encode(f"label-studio:{secret}".encode()).decode() not in text, f"Basic credentials appear in {where}"


def test_no_secret_reaches_the_logs(client: TestClient, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _refused_requests(client)
    # accepted requests with every token and the webhook secret
    for role in ROLES:
        assert client.get("/api/status", headers=bearer(role)).status_code == 200
        assert client.post("/setup", json={}, auth=("label-studio", TOKENS[role])).status_code == 200
    assert client.get("/api/jobs", headers=bearer("engineer")).status_code == 200
    assert client.get("/api/audit?format=csv", headers=bearer("admin")).status_code == 200
    assert client.post(f"/api/models/{NER}/promote", json={"version": "nope"}, headers=bearer("admin")).status_code == 404
    hook = {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}, headers=hook).status_code == 200
    # reconciles in the background against a Label Studio that is not there (logged as failures)
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 41}, "annotation": {"id": 9, "task": 41}}
    assert client.post("/webhook", json=body, headers=hook).status_code == 200

    assert "refused POST /api/train" in caplog.text and "refused POST /webhook" in caplog.text
    _assert_no_secret_in(caplog.text, "the captured log")
    for record in caplog.records:
        _assert_no_secret_in(f"{record.getMessage()} {record.args!r} {record.exc_text or ''} {record.__dict__!r}", f"log record {record.name}")


def test_no_secret_reaches_the_real_servers_log(tmp_path: Path) -> None:
    from cliniloop.services.api.server import ApiServer
    from cliniloop.services.core.store import open_store

    db = tmp_path / "server.sqlite3"
    env = {
        "CLINILOOP_DATABASE_URL": f"sqlite:///{db}",
        "CLINILOOP_VAR_DIR": str(tmp_path / "var"),
        "CLINILOOP_JOB_WORKER": "false",
        "CLINILOOP_LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "CLINILOOP_LABEL_STUDIO_API_KEY": "k" * 40,
        "CLINILOOP_API_ADMIN_TOKEN": TOKENS["admin"],
        "CLINILOOP_API_ENGINEER_TOKEN": TOKENS["engineer"],
        "CLINILOOP_API_ANNOTATOR_TOKEN": TOKENS["annotator"],
        "CLINILOOP_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    log_path = tmp_path / "api.log"
    hook = {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
    os.umask(0o022)  # issue 19: the log and the store are private whatever the umask (restored by tests/conftest.py)
    with ApiServer(env, log_path) as api, httpx.Client(base_url=api.url, timeout=30.0) as http:
        # refused
        assert http.post("/api/train", json={}).status_code == 401
        assert http.post("/api/train", json={}, headers=bearer("annotator")).status_code == 403
        assert http.get("/api/audit", headers=bearer("engineer")).status_code == 403
        assert http.get("/versions", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        assert http.post("/webhook", json={"action": "START_TRAINING"}).status_code == 401
        assert http.post("/webhook", json={"action": "START_TRAINING"}, headers={WEBHOOK_SECRET_HEADER: "wrong-secret-0123456789abc"}).status_code == 403
        # accepted, with every secret
        for role in ROLES:
            assert http.get("/api/status", headers=bearer(role)).status_code == 200
            assert http.post("/setup", json={}, auth=("label-studio", TOKENS[role])).status_code == 200
        assert http.get("/api/audit", headers=bearer("admin")).status_code == 200
        assert http.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}, headers=hook).status_code == 200
        body = {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 41}, "annotation": {"id": 9, "task": 41}}
        assert http.post("/webhook", json=body, headers=hook).status_code == 200
        assert http.get("/api/jobs", headers=bearer("engineer")).status_code == 200
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600 and stat.S_IMODE(db.stat().st_mode) == 0o600
    log = log_path.read_text(errors="replace")
    assert "refused POST /api/train" in log and "refused GET /api/audit" in log and "refused POST /webhook" in log
    _assert_no_secret_in(log, f"the server log {log_path}")
    store = open_store(f"sqlite:///{db}")
    try:
        denied = store.audit_events("access_denied")
        assert len(denied) == 6
        _assert_no_secret_in(json.dumps([[e.actor, e.entity_id, e.details] for e in denied]), "the audit trail")
        assert len(store.jobs()) == 1
    finally:
        store.close()
