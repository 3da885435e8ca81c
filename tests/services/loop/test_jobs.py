from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import INTERRUPTED, Store
from cliniloop.services.loop import jobs
from cliniloop.services.loop.jobs import JOB_KINDS, TRAIN_TEXT, JobWorker, enqueue_job, run_job, run_pending, training_due


def _ok(store: Store, settings: Settings, progress, *, params: dict[str, Any], actor: str) -> dict[str, Any]:
    progress(0.5, "half")
    return {"version": "v-test", "promoted": False, "echo": params, "actor": actor}


def _boom(store: Store, settings: Settings, progress, *, params: dict[str, Any], actor: str) -> dict[str, Any]:
    progress(0.3, "about to fail")
    raise RuntimeError("boom")


@pytest.fixture
def kinds(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setitem(JOB_KINDS, "ok", _ok)
    monkeypatch.setitem(JOB_KINDS, "boom", _boom)
    return JOB_KINDS


def _wait(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_run_job_records_result_progress_and_audit(store: Store, train_settings: Settings, kinds: dict) -> None:
    job_id = enqueue_job(store, "ok", {"x": 1}, requested_by="tester")
    store.claim_next_job()
    seen: list[tuple[int, float, str]] = []
    job = run_job(store, train_settings, job_id, listener=lambda *a: seen.append(a))
    assert job.status == "succeeded" and job.progress == 1.0 and job.error is None
    assert job.result == {"version": "v-test", "promoted": False, "echo": {"x": 1}, "actor": f"job {job_id} for tester"}
    assert seen == [(job_id, 0.5, "half")]
    started, finished = store.audit_events("job_started"), store.audit_events("job_finished")
    assert started[-1].entity_id == str(job_id) and started[-1].details["kind"] == "ok"
    assert finished[-1].details["status"] == "succeeded" and finished[-1].details["version"] == "v-test"


def test_a_failing_job_is_recorded_and_never_raises(store: Store, train_settings: Settings, kinds: dict) -> None:
    store.register_model_version("clinical-ner", "good")
    store.promote("clinical-ner", "good")
    job_id = enqueue_job(store, "boom")
    store.claim_next_job()
    job = run_job(store, train_settings, job_id)
    assert job.status == "failed" and job.error == "RuntimeError: boom" and job.finished_at is not None
    assert job.progress == pytest.approx(0.3)
    assert store.alias("clinical-ner") == "good", "a failed job leaves the promoted version alone"
    assert store.audit_events("job_finished")[-1].details["error_type"] == "RuntimeError"
    # a kind that disappeared (or never existed) fails the same way
    store_job = store.enqueue_job("vanished")
    store.claim_next_job()
    assert run_job(store, train_settings, store_job).error.startswith("UnknownJobKind")
    assert run_job(store, train_settings, 12345) is None


def test_enqueue_refuses_unknown_kinds(store: Store) -> None:
    with pytest.raises(jobs.UnknownJobKind):
        enqueue_job(store, "no-such-kind")


def test_run_pending_runs_everything_queued_in_order(store: Store, train_settings: Settings, kinds: dict) -> None:
    a = enqueue_job(store, "ok")
    b = enqueue_job(store, "boom")
    done = run_pending(store, train_settings)
    assert [(j.id, j.status) for j in done] == [(a, "succeeded"), (b, "failed")]
    assert run_pending(store, train_settings) == []


def test_worker_marks_interrupted_jobs_failed_then_runs_queued_ones(store: Store, train_settings: Settings, kinds: dict) -> None:
    stale = enqueue_job(store, "ok")
    store.claim_next_job()  # "running" in a process that died
    worker = JobWorker(store, train_settings, poll_interval_s=30.0)  # only wake() makes it look again
    worker.start()
    try:
        job = store.job(stale)
        assert job.status == "failed" and job.error == INTERRUPTED
        _wait(lambda: worker.is_alive())
        time.sleep(0.1)  # the worker's first look found nothing; it now sleeps 30 s
        fresh = enqueue_job(store, "ok")
        worker.wake()
        _wait(lambda: store.job(fresh).status == "succeeded", timeout_s=10)
    finally:
        worker.stop(timeout_s=10)
    assert not worker.is_alive()


def test_worker_runs_one_job_at_a_time(store: Store, train_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    overlap = []
    release = threading.Event()

    def slow(store: Store, settings: Settings, progress, *, params: dict[str, Any], actor: str) -> dict[str, Any]:
        nonlocal running
        running += 1
        overlap.append(running)
        release.wait(10)
        running -= 1
        return {}

    monkeypatch.setitem(JOB_KINDS, "slow-a", slow)
    monkeypatch.setitem(JOB_KINDS, "slow-b", slow)
    worker = JobWorker(store, train_settings)
    worker.start()
    try:
        a, b = enqueue_job(store, "slow-a"), enqueue_job(store, "slow-b")
        _wait(lambda: store.job(a).status == "running")
        time.sleep(0.2)
        assert store.job(b).status == "queued"
        release.set()
        _wait(lambda: store.job(b).status == "succeeded")
    finally:
        release.set()
        worker.stop(timeout_s=10)
    assert overlap == [1, 1]


def test_training_due_counts_annotations_since_the_last_request(store: Store, label_tasks) -> None:
    settings = Settings(train_every_annotations=3)
    label_tasks(2)
    assert not training_due(store, Settings(train_every_annotations=0)), "0 turns it off"
    assert not training_due(store, settings)
    label_tasks(3)  # same notes (ids 0, 1) plus one more: 1 new annotation, 3 in all
    assert training_due(store, settings)
    store.enqueue_job(TRAIN_TEXT)
    assert not training_due(store, settings), "counted from the last training request"
