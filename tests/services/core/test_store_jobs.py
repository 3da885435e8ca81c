from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect

from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
from cliniloop.services.core.store import INTERRUPTED, MIGRATIONS_DIR, NoEarlierVersion, Store


def test_migration_creates_jobs_and_promotion_history(any_store: Store) -> None:
    names = set(inspect(any_store.engine).get_table_names())
    assert {"jobs", "model_promotions"} <= names


def test_enqueue_coalesces_queued_jobs_of_a_kind(any_store: Store) -> None:
    a = any_store.enqueue_job("train-text", {"max_iterations": 3}, "webhook")
    assert any_store.enqueue_job("train-text", {"max_iterations": 9}, "api") == a, "a burst joins the queued job"
    b = any_store.enqueue_job("other", {}, None)
    assert b != a
    job = any_store.job(a)
    assert job is not None and job.status == "queued" and job.params == {"max_iterations": 3} and job.requested_by == "webhook"
    assert any_store.claim_next_job().id == a
    c = any_store.enqueue_job("train-text", {}, "api")
    assert c not in (a, b), "a running job does not absorb new requests: they may bring new labels"
    assert [j.id for j in any_store.jobs(limit=10)] == [c, b, a]
    assert [j.id for j in any_store.jobs(limit=10, kind="train-text")] == [c, a]


def test_claim_update_finish(any_store: Store) -> None:
    assert any_store.claim_next_job() is None
    first = any_store.enqueue_job("k1")
    second = any_store.enqueue_job("k2")
    assert any_store.claim_next_job(kinds=["k2"]).id == second
    job = any_store.claim_next_job()
    assert job.id == first and job.status == "running" and job.started_at is not None
    assert any_store.claim_next_job() is None
    any_store.update_job(first, progress=1.7, message="halfway")
    assert any_store.job(first).progress == 1.0 and any_store.job(first).message == "halfway"
    any_store.finish_job(first, result={"version": "v1"})
    done = any_store.job(first)
    assert done.status == "succeeded" and done.result == {"version": "v1"} and done.finished_at is not None
    any_store.finish_job(second, error="ValueError: bad")
    failed = any_store.job(second)
    assert failed.status == "failed" and failed.error == "ValueError: bad"


def test_concurrent_claims_never_share_a_job(any_store: Store) -> None:
    ids = [any_store.enqueue_job(f"kind-{i}") for i in range(24)]
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := any_store.claim_next_job()) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids), "every job claimed exactly once"
    assert {j.status for j in any_store.jobs(limit=100)} == {"running"}


def test_jobs_left_running_are_marked_interrupted(any_store: Store) -> None:
    a = any_store.enqueue_job("k1")
    b = any_store.enqueue_job("k2")
    any_store.claim_next_job()
    assert any_store.fail_interrupted_jobs() == [a]
    job = any_store.job(a)
    assert job.status == "failed" and job.error == INTERRUPTED and job.finished_at is not None
    assert any_store.job(b).status == "queued"


def test_promotion_history_and_rollback_walk_back(any_store: Store) -> None:
    for v in ("v1", "v2", "v3"):
        any_store.register_model_version("m", v)
    with pytest.raises(NoEarlierVersion, match="nothing is promoted"):
        any_store.rollback("m")
    assert any_store.promote("m", "v1", actor="t") is None
    with pytest.raises(NoEarlierVersion, match="at v1"):
        any_store.rollback("m")
    assert any_store.promote("m", "v2") == "v1"
    assert any_store.promote("m", "v2") == "v2", "promoting the current version changes nothing"
    any_store.promote("m", "v3")
    assert any_store.promotion_stack("m") == ["v1", "v2", "v3"]
    assert any_store.rollback("m", actor="t", reason="bad") == ("v3", "v2")
    assert any_store.alias("m") == "v2"
    assert any_store.rollback("m") == ("v2", "v1")
    with pytest.raises(NoEarlierVersion):
        any_store.rollback("m")
    assert any_store.alias("m") == "v1"
    any_store.promote("m", "v3")
    assert any_store.rollback("m") == ("v3", "v1")
    actions = [(p.action, p.version, p.previous_version) for p in any_store.promotions("m")]
    assert actions == [
        ("promote", "v1", None),
        ("promote", "v2", "v1"),
        ("promote", "v3", "v2"),
        ("rollback", "v2", "v3"),
        ("rollback", "v1", "v2"),
        ("promote", "v3", "v1"),
        ("rollback", "v1", "v3"),
    ]
    with pytest.raises(KeyError):
        any_store.promote("m", "never-registered")


def test_make_latest_replaces_an_older_prediction_of_the_same_version(any_store: Store) -> None:
    any_store.add_tasks([TaskIn(id="t1", modality="text", source_uri="x", data={"text": "note"})])

    def pred(version: str) -> PredictionIn:
        span = TextSpan(start=0, end=4, text="note", label="Problem", probability=0.5)
        return PredictionIn(task_id="t1", model_name="m", model_version=version, taxonomy_version="tx", regions=[span], score=0.5, uncertainty=0.5)

    any_store.add_predictions([pred("old")])
    any_store.add_predictions([pred("new")])
    assert any_store.add_predictions([pred("old")]) == 0
    assert any_store.latest_predictions("m")["t1"].model_version == "new"
    assert any_store.add_predictions([pred("old")], make_latest=True) == 1
    assert any_store.latest_predictions("m")["t1"].model_version == "old"


def test_aliases_set_before_0002_are_seeded_into_the_history(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    store = Store(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.exec_driver_sql(
            "INSERT INTO model_versions (name, version, label_count, metrics, created_at) VALUES ('m', 'v0', 0, '{}', '2026-01-01')"
        )
        connection.exec_driver_sql("INSERT INTO model_aliases (name, alias, version, updated_at) VALUES ('m', 'production', 'v0', '2026-01-01')")
    store.migrate()
    assert [(p.action, p.version) for p in store.promotions("m")] == [("promote", "v0")]
    store.register_model_version("m", "v1")
    store.promote("m", "v1")
    assert store.rollback("m") == ("v1", "v0")
    store.close()
