"""The clinical-text loop against a real Label Studio and a real cliniloop API on 127.0.0.1.

One module-scoped setup pushes 20 sample notes; the tests then act like annotators (through
the Label Studio API) and check what comes back into the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient, LabelStudioUnavailable
from cliniloop.connectors.label_studio.convert import regions_to_result, result_to_regions
from cliniloop.models.text import ClinicalTextAnnotator
from cliniloop.services.api.server import ApiServer
from cliniloop.services.core.access import WEBHOOK_SECRET_HEADER, api_secrets
from cliniloop.services.core.schemas import TextSpan, regions_from_json
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.connect import ML_BACKEND_USER, connect_project
from cliniloop.services.loop.ingest import ingest_notes
from cliniloop.services.loop.predict import TEXT_MODEL_NAME, predict_tasks
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import ensure_text_project, push_tasks
from cliniloop.services.loop.select import select_tasks

pytestmark = pytest.mark.integration

PROJECT = "cliniloop loop test"


@dataclass
class Loop:
    store: Store
    client: LabelStudioClient
    api: ApiServer
    project_id: int
    selected: list[str]
    ls_ids: dict[str, int]
    settings: Settings


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(scope="module")
def model() -> ClinicalTextAnnotator:
    return ClinicalTextAnnotator().fit()


@pytest.fixture(scope="module")
def loop(label_studio, ls_client: LabelStudioClient, tmp_path_factory, model, deidentifier) -> Iterator[Loop]:
    tmp = tmp_path_factory.mktemp("loop")
    db_url = f"sqlite:///{tmp / 'store.sqlite3'}"
    store = Store(db_url)
    store.migrate()
    notes = Path(__file__).resolve().parents[2] / "data_samples" / "notes"
    ingest_notes(store, notes, 5 * 1024 * 1024, deidentifier)
    predict_tasks(store, model)
    selection = select_tasks(store, 20)
    api = ApiServer(
        {
            "CLINILOOP_DATABASE_URL": db_url,
            "CLINILOOP_LABEL_STUDIO_URL": label_studio.url,
            "CLINILOOP_LABEL_STUDIO_API_KEY": label_studio.api_key,
            "CLINILOOP_VAR_DIR": str(tmp),
            "CLINILOOP_LABEL_STUDIO_PROJECT": PROJECT,
            # The annotators below accept the rules' suggestions, so on dev the rules score their own
            # labels and no model trained on 15 notes can beat them: the dev check would (rightly)
            # refuse it. This module is about the START_TRAINING -> promotion -> Label Studio path, so
            # the check is opened here; its refusals are tested in tests/services/loop/test_promotion.py.
            "CLINILOOP_PROMOTION_MIN_DELTA": "-1",
        },
        tmp / "api.log",
    ).start()
    project_id = ensure_text_project(ls_client, PROJECT)
    settings = Settings(var_dir=tmp)  # the API's secrets: made in its var dir, read here
    connect_project(ls_client, project_id, api.url, settings, ml_backend=False)
    report = push_tasks(store, ls_client, project_id, selection.task_ids)
    assert len(report.created) == 20
    yield Loop(store, ls_client, api, project_id, selection.task_ids, store.pushed(ls_client.project_ref(project_id)), settings)
    api.stop()
    store.close()


def test_push_imports_20_tasks_with_scored_predictions_once(loop: Loop) -> None:
    in_ls = loop.client.existing_task_ids(loop.project_id)
    assert set(in_ls) == set(loop.selected) and len(in_ls) == 20
    again = push_tasks(loop.store, loop.client, loop.project_id, loop.selected)
    assert again.created == [] and again.predictions_added == [] and len(again.already_present) == 20
    assert len(loop.client.existing_task_ids(loop.project_id)) == 20
    preds = loop.store.latest_predictions(TEXT_MODEL_NAME, loop.selected)
    for tid in loop.selected[:3]:
        task = loop.client.sdk.tasks.get(id=loop.ls_ids[tid])
        assert len(task.predictions) == 1
        p = task.predictions[0]
        p = p if isinstance(p, dict) else p.model_dump()
        assert p["model_version"] == preds[tid].model_version
        assert abs(p["score"] - preds[tid].score) < 1e-6
        assert abs(task.data["uncertainty"] - preds[tid].uncertainty) < 1e-6


def _correct(regions: list[TextSpan], text: str) -> list[TextSpan]:
    """What an annotator does: relabel one span, flip one assertion, delete one, add one."""
    spans = [r for r in regions if isinstance(r, TextSpan)]
    assert len(spans) >= 3, "sample notes have at least three predicted spans"
    relabel = spans[0].model_copy(update={"label": "Test" if spans[0].label != "Test" else "Problem"})
    flipped = "absent" if spans[1].attributes.get("assertion") != "absent" else "present"
    flip = spans[1].model_copy(update={"attributes": {"assertion": flipped}})
    kept = [s.model_copy(update={"attributes": {"assertion": s.attributes.get("assertion", "present")}}) for s in spans[3:]]
    start = text.index(text.strip().split()[0])
    word = text[start:].split()[0]
    added = TextSpan(start=start, end=start + len(word), text=word, label="Anatomy", attributes={"assertion": "present"})
    relabel = relabel.model_copy(update={"attributes": {"assertion": relabel.attributes.get("assertion", "present")}})
    return [relabel, flip, *kept, added]


def _canonical(regions: list[Any]) -> list[tuple]:
    return sorted((r.start, r.end, r.label, r.attributes.get("assertion")) for r in regions)


def test_queue_follows_uncertainty_and_corrections_round_trip(loop: Loop) -> None:
    preds = loop.store.latest_predictions(TEXT_MODEL_NAME, loop.selected)
    by_ls = {ext: tid for tid, ext in loop.ls_ids.items()}
    remaining = set(loop.selected)
    submitted: dict[str, list[TextSpan]] = {}
    for _ in range(3):
        nxt = loop.client.next_task(loop.project_id)
        assert nxt is not None
        tid = by_ls[nxt["id"]]
        most_uncertain = max(preds[t].uncertainty for t in remaining)
        assert preds[tid].uncertainty == pytest.approx(most_uncertain), "annotator queue must follow our uncertainty"
        text = loop.store.get_task(tid).data["text"]
        corrected = _correct(regions_from_json(preds[tid].regions), text)
        loop.client.create_annotation(nxt["id"], regions_to_result(corrected), lead_time=12.5)
        submitted[tid] = corrected
        remaining.discard(tid)

    # the webhook arrives and is reconciled in the background
    for tid in submitted:
        wait_for(lambda tid=tid: loop.store.annotations(tid), what=f"webhook-driven annotation of {tid[:8]}")
    webhook_tasks = {e.details.get("task") for e in loop.store.audit_events("webhook")}
    assert {loop.ls_ids[t] for t in submitted} <= webhook_tasks

    report = pull_annotations(loop.store, loop.client, loop.project_id)
    assert report.created == 0 and report.deleted == 0
    for tid, regions in submitted.items():
        stored = loop.store.annotations(tid)
        assert len(stored) == 1
        assert _canonical(regions_from_json(stored[0].regions)) == _canonical(regions)
        assert stored[0].lead_time_s == pytest.approx(12.5)


def test_repeated_and_lost_webhooks_never_duplicate(loop: Loop) -> None:
    tid = loop.selected[-1]
    ext = loop.ls_ids[tid]
    text = loop.store.get_task(tid).data["text"]
    span = TextSpan(start=0, end=len(text.split()[0]), text=text.split()[0], label="Problem", attributes={"assertion": "present"})
    # lost webhook: remove our webhook first, so only a pull can see this annotation
    loop.client.delete_webhooks(loop.project_id)
    ann = loop.client.create_annotation(ext, regions_to_result([span]))
    time.sleep(1.0)
    assert loop.store.annotations(tid) == []
    pull_annotations(loop.store, loop.client, loop.project_id)
    assert len(loop.store.annotations(tid)) == 1
    # repeated webhook: the same event delivered three times changes nothing
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": loop.project_id}, "task": {"id": ext}, "annotation": ann}
    for _ in range(3):
        headers = {WEBHOOK_SECRET_HEADER: api_secrets(loop.settings).webhook_secret}
        assert httpx.post(f"{loop.api.url}/webhook", json=payload, headers=headers, timeout=5).status_code == 200
    time.sleep(1.5)
    assert len(loop.store.annotations(tid)) == 1
    # update replaces, delete removes, skipped is ignored
    relabelled = span.model_copy(update={"label": "Medication"})
    loop.client.update_annotation(ann["id"], regions_to_result([relabelled]))
    assert pull_annotations(loop.store, loop.client, loop.project_id).updated == 1
    assert loop.store.annotations(tid)[0].regions[0]["label"] == "Medication"
    loop.client.delete_annotation(ann["id"])
    assert pull_annotations(loop.store, loop.client, loop.project_id).deleted == 1
    assert loop.store.annotations(tid) == []
    skip_tid = loop.selected[-2]
    loop.client.create_annotation(loop.ls_ids[skip_tid], [], was_cancelled=True)
    assert pull_annotations(loop.store, loop.client, loop.project_id).skipped >= 1
    assert loop.store.annotations(skip_tid) == []
    connect_project(loop.client, loop.project_id, loop.api.url, loop.settings, ml_backend=False)


def test_ml_backend_predicts_for_a_task_without_predictions(loop: Loop, label_studio) -> None:
    project_id = loop.client.ensure_project(
        "cliniloop ml backend test", loop.client.sdk.projects.get(id=loop.project_id).label_config
    )
    # Label Studio calls the backend with HTTP Basic and the annotator token (connect_project)
    connect_project(loop.client, project_id, loop.api.url, loop.settings)
    [ext] = loop.client.import_tasks(project_id, [{"data": {"text": "No fever. History of atrial fibrillation on warfarin."}}])
    assert list(loop.client.sdk.predictions.list(task=ext)) == []
    loop.client.retrieve_predictions(project_id)

    def predictions() -> list[Any]:
        preds = loop.client.sdk.predictions.list(task=ext)
        return [p if isinstance(p, dict) else p.model_dump() for p in preds]

    preds = wait_for(predictions, 60, "ML-backend predictions")
    regions = result_to_regions(preds[0]["result"])
    found = {(r.text, r.attributes.get("assertion")) for r in regions}
    assert ("fever", "absent") in found
    assert preds[0]["model_version"].startswith("medspacy-rules-")


def test_push_to_unreachable_label_studio_records_nothing(loop: Loop, tmp_path: Path, model, deidentifier) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.migrate()
    notes = Path(__file__).resolve().parents[2] / "data_samples" / "notes"
    ingest_notes(store, notes, 5 * 1024 * 1024, deidentifier)
    predict_tasks(store, model)
    ids = select_tasks(store, 5).task_ids
    dead = LabelStudioClient("http://127.0.0.1:9", loop.client.api_key)
    with pytest.raises(LabelStudioUnavailable, match="127.0.0.1:9"):
        push_tasks(store, dead, 1, ids)
    assert store.pushed(dead.project_ref(1)) == {}
    # a re-run against the live server pushes each task exactly once, even twice over
    project_id = ensure_text_project(loop.client, "cliniloop retry test")
    first = push_tasks(store, loop.client, project_id, ids)
    second = push_tasks(store, loop.client, project_id, ids)
    assert len(first.created) == 5 and second.created == []
    assert len(loop.client.existing_task_ids(project_id)) == 5
    # a push interrupted after Label Studio took the batch but before the store recorded it:
    # a store that never saw the push adopts the tasks instead of importing them again
    fresh = Store(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    fresh.migrate()
    ingest_notes(fresh, notes, 5 * 1024 * 1024, deidentifier)
    predict_tasks(fresh, model)
    third = push_tasks(fresh, loop.client, project_id, ids)
    assert third.created == [] and len(third.already_present) == 5 and third.predictions_added == []
    assert set(fresh.pushed(loop.client.project_ref(project_id))) == set(ids)
    assert len(loop.client.existing_task_ids(project_id)) == 5
    fresh.close()
    store.close()


def test_new_model_version_adds_predictions_to_tasks_already_pushed(loop: Loop) -> None:
    from cliniloop.services.core.schemas import PredictionIn

    old = loop.store.latest_predictions(TEXT_MODEL_NAME, loop.selected[:2])
    loop.store.add_predictions(
        [
            PredictionIn(
                task_id=tid,
                model_name=TEXT_MODEL_NAME,
                model_version="clinical-text-v2",
                taxonomy_version=p.taxonomy_version,
                regions=regions_from_json(p.regions),
                score=0.5,
                uncertainty=0.5,
            )
            for tid, p in old.items()
        ]
    )
    report = push_tasks(loop.store, loop.client, loop.project_id, list(old))
    assert report.created == [] and sorted(report.predictions_added) == sorted(old)
    assert report.model_version == "clinical-text-v2"
    assert loop.client.project_model_version(loop.project_id) == "clinical-text-v2"
    versions = {p.model_version for p in loop.client.sdk.predictions.list(task=loop.ls_ids[loop.selected[0]])}
    assert versions == {old[loop.selected[0]].model_version, "clinical-text-v2"}
    again = push_tasks(loop.store, loop.client, loop.project_id, list(old))
    assert again.predictions_added == [] and again.created == []


def test_start_training_trains_promotes_and_label_studio_follows(loop: Loop) -> None:
    """Annotators label most tasks; "Start training" returns at once; the promoted model re-scores the queue."""
    from cliniloop.services.loop.predict import NER_MODEL_NAME

    pull_annotations(loop.store, loop.client, loop.project_id)
    labelled = loop.store.annotated_task_ids()
    skipped = loop.selected[-2]
    todo = [t for t in loop.selected if t not in labelled and t != skipped]
    preds = loop.store.latest_predictions(TEXT_MODEL_NAME, todo)
    keep_open = todo[-4:]
    for tid in todo[:-4]:  # accept the suggestions as they are
        loop.client.create_annotation(loop.ls_ids[tid], regions_to_result(regions_from_json(preds[tid].regions)), lead_time=30.0)
    pull_annotations(loop.store, loop.client, loop.project_id)
    assert len(loop.store.annotated_task_ids()) >= 15

    t0 = time.perf_counter()
    secrets = api_secrets(loop.settings)
    # as Label Studio's ML-backend connection sends it: HTTP Basic with a token; starting training
    # needs the engineer role (the annotator token is refused, as on POST /api/train)
    ml_backend_auth = (ML_BACKEND_USER, secrets.tokens["engineer"])
    r = httpx.post(f"{loop.api.url}/webhook", json={"action": "START_TRAINING", "project": {"id": loop.project_id}}, auth=ml_backend_auth, timeout=5)
    assert time.perf_counter() - t0 < 1.0 and r.status_code == 200
    job_id = r.json()["job_id"]

    def finished() -> dict | None:
        job = httpx.get(f"{loop.api.url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {secrets.tokens['engineer']}"}, timeout=5).json()
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_for(finished, 180, "the training job")
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["promoted"], result["reason"]
    assert loop.store.alias(NER_MODEL_NAME) == result["version"]
    combined = loop.store.alias(TEXT_MODEL_NAME)
    assert combined.endswith("+" + result["version"])
    assert result["refresh"]["label_studio_updated"], result["refresh"]
    # Label Studio: the project's model version is the new one, and its tasks carry its predictions
    assert loop.client.project_model_version(loop.project_id) == combined
    some = loop.ls_ids[keep_open[0]]
    versions = {(p if isinstance(p, dict) else p.model_dump())["model_version"] for p in loop.client.sdk.predictions.list(task=some)}
    assert combined in versions
    # the annotators' queue now follows the new model's uncertainty
    new = loop.store.latest_predictions(TEXT_MODEL_NAME, keep_open)
    assert {p.model_version for p in new.values()} == {combined}
    nxt = loop.client.next_task(loop.project_id)
    by_ls = {ext: tid for tid, ext in loop.ls_ids.items()}
    assert nxt is not None and by_ls[nxt["id"]] in keep_open
    assert new[by_ls[nxt["id"]]].uncertainty == pytest.approx(max(p.uncertainty for p in new.values()))
