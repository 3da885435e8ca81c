"""The Label Studio connector against a real Label Studio 1.23.2 on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from cliniloop.connectors.label_studio.client import (
    InvalidPrediction,
    LabelStudioClient,
    LabelStudioError,
    LabelStudioUnavailable,
)
from cliniloop.connectors.label_studio.config import text_label_config
from cliniloop.connectors.label_studio.convert import annotation_from_ls, regions_to_result, task_payload
from cliniloop.connectors.label_studio.server import LocalLabelStudio, free_port
from cliniloop.services.core.schemas import PredictionIn, TextSpan
from cliniloop.taxonomies.label_schemas import LabelValue, load_label_schema

pytestmark = [
    pytest.mark.integration,
    # the SDK's PAT refresh calls pydantic's deprecated parse_obj
    pytest.mark.filterwarnings("ignore:The `parse_obj` method is deprecated:DeprecationWarning"),
]

SCHEMA = load_label_schema("clinical_text")
CONFIG = text_label_config(SCHEMA)
MODEL_VERSION = "clinical-text@test-1"


def note(i: int) -> str:
    return f"Note {i}: patient denies chest pain; started metformin."


def prediction(task_id: str, text: str, score: float, label: str = "Problem") -> PredictionIn:
    start = text.index("chest pain")
    spans = [
        TextSpan(
            label=label,
            start=start,
            end=start + 10,
            text="chest pain",
            probability=score,
            attributes={"assertion": "absent"},
        ),
        TextSpan(label="Medication", start=text.index("metformin"), end=text.index("metformin") + 9, text="metformin"),
    ]
    return PredictionIn(
        task_id=task_id,
        model_name="clinical-text",
        model_version=MODEL_VERSION,
        taxonomy_version=SCHEMA.taxonomy_version,
        regions=spans,
        score=score,
        uncertainty=round(1 - score, 6),
    )


def push(client: LabelStudioClient, project: int, scores: dict[str, float]) -> dict[str, int]:
    payloads = [
        task_payload(tid, {"text": note(i)}, prediction(tid, note(i), s)) for i, (tid, s) in enumerate(scores.items())
    ]
    client.validate(CONFIG, {p["data"]["cliniloop_id"]: p["predictions"][0]["result"] for p in payloads})
    return dict(zip(scores, client.import_tasks(project, payloads), strict=True))


def test_ensure_project_is_idempotent_and_updates_the_config(ls_client: LabelStudioClient) -> None:
    pid = ls_client.ensure_project("connector: ensure", CONFIG)
    assert ls_client.ensure_project("connector: ensure", CONFIG) == pid
    project = ls_client.sdk.projects.get(pid)
    assert project.sampling == "Uncertainty sampling" and project.label_config == CONFIG
    # a similar title is another project
    other = ls_client.ensure_project("connector: ensure 2", CONFIG)
    assert other != pid and ls_client.find_project("connector: ensure") == pid

    bigger = SCHEMA.model_copy(update={"entity_labels": [*SCHEMA.entity_labels, LabelValue(value="Device")]})
    new_config = text_label_config(bigger)
    assert ls_client.ensure_project("connector: ensure", new_config) == pid
    assert ls_client.sdk.projects.get(pid).label_config == new_config
    ls_client.sdk.projects.update(pid, sampling="Sequential sampling")
    ls_client.ensure_project("connector: ensure", new_config)
    assert ls_client.sdk.projects.get(pid).sampling == "Uncertainty sampling"


def test_ensure_project_refuses_a_config_that_orphans_annotations(ls_client: LabelStudioClient) -> None:
    pid = ls_client.ensure_project("connector: orphans", CONFIG)
    [ls_id] = ls_client.import_tasks(pid, [{"data": {"text": "aspirin daily", "cliniloop_id": "o-1"}}])
    ls_client.create_annotation(
        ls_id, regions_to_result([TextSpan(label="Medication", start=0, end=7, text="aspirin")])
    )
    without = SCHEMA.model_copy(update={"entity_labels": [v for v in SCHEMA.entity_labels if v.value != "Medication"]})
    with pytest.raises(LabelStudioError, match="Medication") as err:
        ls_client.ensure_project("connector: orphans", text_label_config(without))
    assert err.value.status_code == 400
    assert ls_client.sdk.projects.get(pid).label_config == CONFIG  # unchanged
    with pytest.raises(LabelStudioError, match="no more than 50 characters"):
        ls_client.ensure_project("x" * 51, CONFIG)


def test_pushed_tasks_are_found_again_by_our_id(ls_client: LabelStudioClient) -> None:
    pid = ls_client.ensure_project("connector: push", CONFIG)
    scores = {f"task-{i}": round(0.1 * (i + 1), 2) for i in range(5)}
    created = push(ls_client, pid, scores)
    assert len(set(created.values())) == 5
    # page_size=2 forces three pages
    assert ls_client.existing_task_ids(pid, page_size=2) == created
    # ids are returned in payload order: each LS task holds the note we sent for it
    for i, (tid, ls_id) in enumerate(created.items()):
        data = ls_client.task_data(ls_id, pid)
        assert ls_client.task_data(ls_id) == data
        assert data["cliniloop_id"] == tid and data["text"] == note(i)
        assert data["uncertainty"] == pytest.approx(1 - scores[tid])
    # predictions kept their score, model version and region ids
    preds = ls_client.sdk.predictions.list(task=created["task-2"])
    assert [(p.model_version, round(p.score, 6)) for p in preds] == [(MODEL_VERSION, 0.3)]

    def without_ids(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "id"} for item in result]

    assert without_ids(preds[0].result) == without_ids(regions_to_result(prediction("task-2", note(2), 0.3).regions))
    # a span and its assertion are one region: the absent one carries its mark
    assert preds[0].result[0]["value"]["labels"][1:] == ["absent"] and len({i["id"] for i in preds[0].result}) == len(preds[0].result)

    # a newer model version's prediction for an existing task
    newer = prediction("task-0", note(0), 0.05).model_copy(update={"model_version": "clinical-text@test-2"})
    n = ls_client.import_predictions(
        pid,
        [
            {
                "task": created["task-0"],
                "model_version": newer.model_version,
                "score": newer.score,
                "result": regions_to_result(newer.regions),
            }
        ],
    )
    assert n == 1
    assert {p.model_version for p in ls_client.sdk.predictions.list(task=created["task-0"])} == {
        MODEL_VERSION,
        "clinical-text@test-2",
    }


def test_invalid_prediction_is_rejected_before_import(ls_client: LabelStudioClient) -> None:
    pid = ls_client.ensure_project("connector: invalid", CONFIG)
    good = task_payload("ok", {"text": note(0)}, prediction("ok", note(0), 0.5))
    bad = task_payload("bad-one", {"text": note(1)}, prediction("bad-one", note(1), 0.5, label="Disease"))
    with pytest.raises(InvalidPrediction, match="bad-one") as err:
        ls_client.validate(CONFIG, {p["data"]["cliniloop_id"]: p["predictions"][0]["result"] for p in (good, bad)})
    assert "Disease" in str(err.value)
    assert ls_client.existing_task_ids(pid) == {}

    # why we validate: the server itself takes the unknown label without a word
    [ls_id] = ls_client.import_tasks(pid, [bad])
    [stored] = ls_client.sdk.predictions.list(task=ls_id)
    assert stored.result[0]["value"]["labels"][0] == "Disease"


def test_personal_access_token_works_like_the_legacy_token(
    label_studio: LocalLabelStudio, ls_client: LabelStudioClient
) -> None:
    pat = ls_client.create_personal_access_token()
    assert pat.count(".") == 2 and pat != label_studio.api_key  # a JWT refresh token
    with pytest.raises(LabelStudioError, match="409"):
        ls_client.create_personal_access_token()  # one per user

    pat_client = LabelStudioClient(label_studio.url, pat)
    assert pat_client.whoami()["email"] == label_studio.username
    pid = pat_client.ensure_project("connector: pat", CONFIG)
    created = push(pat_client, pid, {"pat-1": 0.4})
    assert pat_client.existing_task_ids(pid) == created
    assert pat_client.next_task(pid)["id"] == created["pat-1"]  # raw call carries the Bearer token too
    assert ls_client.find_project("connector: pat") == pid

    with pytest.raises(LabelStudioError, match="401"):
        LabelStudioClient(label_studio.url, "wrong-legacy-token").whoami()


def test_next_task_follows_ascending_score_of_the_project_model_version(ls_client: LabelStudioClient) -> None:
    pid = ls_client.ensure_project("connector: queue", CONFIG)
    scores = {"q-a": 0.9, "q-b": 0.2, "q-c": 0.55, "q-d": 0.05, "q-e": 0.7}
    created = push(ls_client, pid, scores)
    ls_client.set_model_version(pid, MODEL_VERSION)
    assert ls_client.project_model_version(pid) == MODEL_VERSION
    with pytest.raises(LabelStudioError, match="Model version doesn't exist"):
        ls_client.set_model_version(pid, "never-pushed")  # only versions with predictions (or live models)

    served: list[str] = []
    while (task := ls_client.next_task(pid)) is not None:
        tid = task["data"]["cliniloop_id"]
        assert ls_client.next_task(pid)["id"] == task["id"]  # locked to us until annotated
        served.append(tid)
        ls_client.create_annotation(task["id"], [], lead_time=1.0)
        assert len(served) <= len(scores)
    assert served == sorted(scores, key=scores.get)
    assert set(served) == set(created)


def test_annotations_round_trip_through_the_server(ls_client: LabelStudioClient) -> None:
    pid = ls_client.ensure_project("connector: annotations", CONFIG)
    created = push(ls_client, pid, {"ann-1": 0.3, "ann-2": 0.6})
    corrected = prediction("ann-1", note(0), 0.3).regions
    corrected = [
        corrected[0].model_copy(update={"attributes": {"assertion": "present"}, "label": "Test"}),
        corrected[1],
    ]
    ann_id = ls_client.create_annotation(created["ann-1"], regions_to_result(corrected), lead_time=12.5)["id"]
    ls_client.create_annotation(created["ann-2"], [], was_cancelled=True)

    [raw] = ls_client.task_annotations(created["ann-1"])
    parsed = annotation_from_ls(raw, "ann-1")
    assert parsed is not None and parsed.source_annotation_id == str(ann_id)
    # a span without a mark reads back present
    assert parsed.regions == [r.model_copy(update={"probability": None, "attributes": {"assertion": "present", **r.attributes}}) for r in corrected]
    assert parsed.annotator is not None and parsed.lead_time_s == 12.5

    rows = {
        data["cliniloop_id"]: (ls_id, anns)
        for ls_id, data, anns in ls_client.iter_project_annotations(pid, page_size=1)
    }
    assert set(rows) == {"ann-1", "ann-2"}
    assert annotation_from_ls(rows["ann-1"][1][0], "ann-1") == parsed
    assert [annotation_from_ls(a, "ann-2") for a in rows["ann-2"][1]] == [None]
    exported = {t["data"]["cliniloop_id"]: t for t in ls_client.export_json(pid)}
    assert annotation_from_ls(exported["ann-1"]["annotations"][0], "ann-1") == parsed

    relabelled = [corrected[0].model_copy(update={"label": "Problem"})]
    updated = ls_client.update_annotation(ann_id, regions_to_result(relabelled), lead_time=20.0)
    assert updated["id"] == ann_id
    [again] = ls_client.task_annotations(created["ann-1"])
    assert [r.label for r in annotation_from_ls(again, "ann-1").regions] == ["Problem"]
    ls_client.delete_annotation(ann_id)
    assert ls_client.task_annotations(created["ann-1"]) == []


class _StubBackend(BaseHTTPRequestHandler):
    """A minimal ML backend: /health, /setup, /predict (one fixed span per task)."""

    calls: ClassVar[list[str]] = []

    def _send(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self.calls.append(f"GET {self.path}")
        self._send({"status": "UP"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.calls.append(f"POST {self.path}")
        if self.path.startswith("/setup"):
            self._send({"model_version": "stub-1"})
        elif self.path.startswith("/predict"):
            results = []
            for task in body.get("tasks", []):
                text = task["data"]["text"]
                start = text.index("chest pain")
                span = TextSpan(label="Problem", start=start, end=start + 10, text="chest pain", probability=0.5)
                results.append({"result": regions_to_result([span]), "score": 0.5, "model_version": "stub-1"})
            self._send({"results": results})
        else:
            self._send({})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub_backend() -> Iterator[str]:
    _StubBackend.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubBackend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_and_ml_backend_are_idempotent_and_predictions_retrieved(
    ls_client: LabelStudioClient, stub_backend: str
) -> None:
    pid = ls_client.ensure_project("connector: ml", CONFIG)
    hook = ls_client.ensure_webhook(pid, f"{stub_backend}/webhook", ["ANNOTATION_CREATED"])
    assert ls_client.ensure_webhook(pid, f"{stub_backend}/webhook", ["ANNOTATION_CREATED"]) == hook
    assert (
        ls_client.ensure_webhook(pid, f"{stub_backend}/webhook", ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"]) == hook
    )
    [stored] = [h for h in ls_client.sdk.webhooks.list(project=str(pid)) if h.project == pid]
    assert (
        sorted(stored.actions) == ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"] and stored.send_for_all_actions is False
    )
    assert ls_client.ensure_webhook(pid, f"{stub_backend}/webhook", ["ANNOTATION_CREATED"], {"X-Secret": "s"}) == hook
    [stored] = [h for h in ls_client.sdk.webhooks.list(project=str(pid)) if h.project == pid]
    assert stored.headers == {"X-Secret": "s"} and stored.actions == ["ANNOTATION_CREATED"]
    assert ls_client.delete_webhooks(pid) == 1 and ls_client.delete_webhooks(pid) == 0

    push(ls_client, pid, {"ml-0": 0.5})  # Label Studio refuses a model_version no prediction has
    ls_client.set_model_version(pid, MODEL_VERSION)
    backend = ls_client.connect_ml_backend(pid, stub_backend, "cliniloop")
    assert ls_client.connect_ml_backend(pid, stub_backend + "/", "cliniloop") == backend
    assert ls_client.project_model_version(pid) == MODEL_VERSION  # restored after Label Studio changed it
    assert "POST /setup" in _StubBackend.calls

    [ls_id] = ls_client.import_tasks(pid, [{"data": {"text": note(0), "cliniloop_id": "ml-1"}}])
    assert ls_client.sdk.predictions.list(task=ls_id) == []  # importing does not call /predict
    _StubBackend.calls.clear()
    ls_client.retrieve_predictions(pid, [ls_id])
    deadline = time.monotonic() + 30
    while not (preds := ls_client.sdk.predictions.list(task=ls_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p.model_version for p in preds] == ["stub-1"]
    assert "POST /predict" in _StubBackend.calls

    # Reading a task's data with its project id does not call the backend; without it, the
    # task-detail endpoint fetches a prediction for a task that has none.
    [quiet] = ls_client.import_tasks(pid, [{"data": {"text": note(1), "cliniloop_id": "ml-2"}}])
    _StubBackend.calls.clear()
    assert ls_client.task_data(quiet, pid)["cliniloop_id"] == "ml-2"
    assert _StubBackend.calls == [] and ls_client.sdk.predictions.list(task=quiet) == []
    assert ls_client.task_data(quiet)["cliniloop_id"] == "ml-2"
    assert "POST /predict" in _StubBackend.calls and len(ls_client.sdk.predictions.list(task=quiet)) == 1
    with pytest.raises(LabelStudioError, match="not in project"):
        ls_client.task_data(quiet + 1000, pid)
    assert preds[0].result[0]["value"]["text"] == "chest pain"


def test_unreachable_server_raises_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = LabelStudioClient(url, "some-legacy-token")  # default retries: gives up in a few seconds
    assert client.health() is False
    with pytest.raises(LabelStudioUnavailable, match=url.replace(".", r"\.")):
        client.ensure_project("anything", CONFIG)
    with pytest.raises(LabelStudioUnavailable):
        LabelStudioClient(url, "some-legacy-token", max_retries=0).existing_task_ids(1)


def test_server_restarts_warm_and_detects_a_busy_port(clone_label_studio: Any) -> None:
    server = clone_label_studio("ls-restart")
    with server:
        client = LabelStudioClient(server.url, server.api_key)
        pid = client.ensure_project("connector: restart", CONFIG)
        first_url = server.url
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{first_url}/health")
    with server:  # same data dir: data and token survive
        assert server.startup_s is not None and server.startup_s < 60
        assert LabelStudioClient(server.url, server.api_key).find_project("connector: restart") == pid

    # Label Studio moves to port+1 when its port is busy: the start notices instead of
    # talking to whatever holds the port.
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = LocalLabelStudio(server.data_dir, port=busy.getsockname()[1], binary=server.binary)
        with pytest.raises(Exception, match="was taken"):
            taken.start(timeout_s=60)
        assert not taken.running
        moved = LocalLabelStudio(server.data_dir, port=busy.getsockname()[1], binary=server.binary, port_fallback=True)
        with moved:  # a preferred port (the demo's 8080) taken: another one, not a failure
            assert moved.port != busy.getsockname()[1]
            assert httpx.get(f"{moved.url}/health", timeout=10.0).status_code == 200
        assert not moved.running
