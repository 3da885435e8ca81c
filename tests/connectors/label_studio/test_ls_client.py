"""LabelStudioClient error mapping and raw calls, offline (httpx.MockTransport, closed ports).

Everything that needs a real server is in ``tests/integration/test_label_studio_connector.py``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient, LabelStudioError, LabelStudioUnavailable

BASE = "http://ls.test:8080"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mocked(handler: Callable[[httpx.Request], httpx.Response], api_key: str = "legacy-token-123") -> LabelStudioClient:
    return LabelStudioClient(
        BASE, api_key, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )


def test_closed_port_raises_unavailable_with_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    client = LabelStudioClient(url, "legacy-token-123", max_retries=0)
    assert client.health() is False
    t0 = time.monotonic()
    with pytest.raises(LabelStudioUnavailable) as err:
        client.ensure_project("x", "<View/>")
    assert url in str(err.value) and err.value.url == url
    assert isinstance(err.value, LabelStudioError)  # callers may catch the base class
    assert time.monotonic() - t0 < 5
    with pytest.raises(LabelStudioUnavailable):
        client.next_task(1)
    with pytest.raises(LabelStudioUnavailable):
        list(client.iter_project_annotations(1))


def test_personal_access_token_refresh_against_a_closed_port_is_unavailable() -> None:
    import jwt  # the SDK's dependency: a PAT is a JWT refresh token

    pat = jwt.encode(
        {"token_type": "refresh", "exp": int(time.time()) + 3600, "user_id": "1"}, "k" * 32, algorithm="HS256"
    )
    client = LabelStudioClient(f"http://127.0.0.1:{closed_port()}", pat, max_retries=0)
    with pytest.raises(LabelStudioUnavailable):
        client.whoami()


def test_expired_personal_access_token_is_a_clear_error() -> None:
    import jwt

    pat = jwt.encode(
        {"token_type": "refresh", "exp": int(time.time()) - 10, "user_id": "1"}, "k" * 32, algorithm="HS256"
    )
    with pytest.raises(LabelStudioError, match="expired"):
        LabelStudioClient(BASE, pat)


def test_missing_api_key_is_refused() -> None:
    with pytest.raises(LabelStudioError, match="no API key"):
        LabelStudioClient(BASE, "")


def test_api_errors_carry_url_status_and_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Token legacy-token-123"
        return httpx.Response(
            400, json={"detail": "Validation error", "validation_errors": {"label_config": ["bad tag Foo"]}}
        )

    with pytest.raises(LabelStudioError) as err:
        mocked(handler).set_model_version(3, "v1")
    msg = str(err.value)
    assert BASE in msg and "HTTP 400" in msg and "bad tag Foo" in msg and "project 3" in msg
    assert err.value.status_code == 400 and not isinstance(err.value, LabelStudioUnavailable)


def test_next_task_returns_the_task_or_none_and_raises_on_errors() -> None:
    answers = iter(
        [
            httpx.Response(200, json={"id": 5, "data": {"cliniloop_id": "n1"}}),
            httpx.Response(404, json={"detail": "There are no tasks for admin@example.com"}),
            httpx.Response(403, json={"detail": "forbidden"}),
        ]
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return next(answers)

    client = mocked(handler)
    assert client.next_task(7) == {"id": 5, "data": {"cliniloop_id": "n1"}}
    assert client.next_task(7) is None
    with pytest.raises(LabelStudioError, match="HTTP 403"):
        client.next_task(7)
    assert seen == ["/api/projects/7/next"] * 3


def test_health_needs_no_auth_and_reads_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "Authorization" not in request.headers
        return httpx.Response(200, json={"status": "UP"} if request.url.path == "/health" else {})

    assert mocked(handler).health() is True
    assert mocked(lambda r: httpx.Response(503, text="down")).health() is False


def test_import_failure_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json={"detail": "boom"})

    client = LabelStudioClient(
        BASE, "legacy-token-123", max_retries=2, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    with pytest.raises(LabelStudioError, match="boom"):
        client.import_tasks(1, [{"data": {"text": "x"}}])
    assert calls == 1


def test_project_ref_is_the_project_url() -> None:
    assert LabelStudioClient(BASE + "/", "legacy-token-123").project_ref(4) == f"{BASE}/projects/4"


def test_readable_columns_hide_signals_in_every_tab_and_never_fail_a_push() -> None:
    """Issue 23: each Data Manager tab of a time-series project hides the raw signal column (once)."""
    import json

    from cliniloop.connectors.label_studio.eeg import eeg_label_config

    views = [{"id": 5, "data": {"title": "mine", "hiddenColumns": {"explore": ["tasks:id"]}}}]
    sent: list[tuple[str, str, dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=views)
        body = json.loads(request.content)
        sent.append((request.method, request.url.path, body))
        views[0]["data"] = body["data"]
        return httpx.Response(200, json=views[0])

    client = mocked(handler)
    config = eeg_label_config(["A", "B"])
    hidden = client.ensure_readable_columns(3, config)
    assert hidden[0] == "tasks:data.eeg"
    [(method, path, body)] = sent
    assert (method, path) == ("PATCH", "/api/dm/views/5/") and body["data"]["title"] == "mine"
    assert body["data"]["hiddenColumns"]["explore"][:2] == ["tasks:id", "tasks:data.eeg"]
    assert body["data"]["hiddenColumns"]["labeling"] == ["tasks:data.eeg"]
    client.ensure_readable_columns(3, config)
    assert len(sent) == 1, "nothing to change the second time"
    assert client.ensure_readable_columns(3, '<View><Text name="t" value="$text"/></View>') == []

    refused = mocked(lambda r: httpx.Response(403))
    assert refused.ensure_readable_columns(3, config) == []  # logged, not raised
