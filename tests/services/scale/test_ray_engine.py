"""Batch ingest and prediction on a local Ray (2 CPUs): same results as one process, nothing lost or done twice.

One Ray session and one pool of two worker actors serve the whole module (Ray and the models
take seconds to start); each test works on its own store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import PredictionRow, TaskRow
from cliniloop.services.scale.engine import EngineError, EngineOptions, check_store_for_cluster, is_remote_address, ray_can_start, start_ray
from tests.conftest import TEST_DEID_SECRET

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples" / "notes"
#: A few notes are enough: what is checked is the bookkeeping, not the models.
NOTES = sorted(SAMPLES.glob("*.txt"))[:10]
_POOLS: list = []


def _settings(var_dir: Path) -> Settings:
    return Settings(var_dir=var_dir, deid_secret=SecretStr(TEST_DEID_SECRET.decode()), label_studio_api_key=None, job_worker=False)


def _store(path: Path) -> Store:
    st = Store(f"sqlite:///{path}")
    st.migrate()
    return st


def _contents(store: Store) -> tuple[dict[str, dict], dict[tuple[str, str, str], list]]:
    """Tasks (id -> data) and predictions ((task, model, version) -> regions); duplicates would collide."""
    with store.session() as s:
        tasks = {t.id: t.data for t in s.scalars(select(TaskRow))}
        # region ids are random per prediction: compare the rest
        preds = {(p.task_id, p.model_name, p.model_version): [{k: v for k, v in r.items() if k != "id"} for r in p.regions]
                 for p in s.scalars(select(PredictionRow))}  # fmt: skip
        n_preds = s.scalar(select(func.count()).select_from(PredictionRow))
    assert n_preds == len(preds), "two predictions for one (task, model, version)"
    return tasks, preds


@pytest.fixture(scope="module")
def notes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notes")
    for p in NOTES:
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


@pytest.fixture(scope="module")
def ray_session():
    reason = ray_can_start()
    if reason:
        pytest.skip(f"Ray cannot start here: {reason}")
    try:
        start_ray(workers=2)
    except EngineError as err:
        pytest.skip(f"Ray cannot start here: {err}")
    import ray

    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def single_process(tmp_path_factory: pytest.TempPathFactory, notes_dir: Path) -> tuple[dict, dict]:
    """What the single-process engine stores for the notes."""
    from cliniloop.services.loop.deid import NoteDeidentifier
    from cliniloop.services.loop.ingest import ingest_notes
    from cliniloop.services.loop.predict import load_text_model, predict_tasks

    tmp = tmp_path_factory.mktemp("local")
    settings = _settings(tmp)
    store = _store(tmp / "local.sqlite3")
    ingest_notes(store, notes_dir, settings.max_note_bytes, NoteDeidentifier.from_settings(settings))
    predict_tasks(store, load_text_model(store, settings))
    out = _contents(store)
    store.close()
    return out


@pytest.fixture(scope="module")
def pool_env(ray_session, tmp_path_factory: pytest.TempPathFactory):
    """A pool of 2 actors writing to one SQLite store (the tests empty it as they need)."""
    from cliniloop.services.scale.ray_engine import RayPool

    tmp = tmp_path_factory.mktemp("ray")
    path = tmp / "ray.sqlite3"
    store = _store(path)
    pool = RayPool(_settings(tmp), store.url, EngineOptions("ray", workers=2), deid_secret=TEST_DEID_SECRET)
    _POOLS.append(pool)
    yield pool, store
    pool.close()
    store.close()


def _free_cpus() -> None:
    """Stop the module pool's actors: the tests that start their own workers need the 2 CPUs."""
    for pool in _POOLS:
        pool.close()


def _run(pool, store: Store, notes_dir: Path, shard_size: int = 3, on_result=None):
    from cliniloop.services.scale.ray_engine import ray_ingest_notes, ray_predict_text

    ingest = ray_ingest_notes(pool, notes_dir, keep_original=False, shard_size=shard_size, on_result=on_result)
    predict = ray_predict_text(pool, store, shard_size=shard_size, on_result=on_result)
    return ingest, predict


def _empty(store: Store) -> None:
    with store.session() as s:
        s.execute(PredictionRow.__table__.delete())
        s.execute(TaskRow.__table__.delete())


def test_same_results_as_one_process_and_rerun_adds_nothing(pool_env, single_process, notes_dir: Path) -> None:
    pool, store = pool_env
    _empty(store)
    ingest, predict = _run(pool, store, notes_dir)
    assert len(ingest.added) == len(NOTES) and not ingest.errors
    assert predict.predicted == len(NOTES) and not predict.failed
    assert _contents(store) == single_process  # same ids, de-identified texts and predicted regions
    again_ingest, again_predict = _run(pool, store, notes_dir, shard_size=4)  # other shards: still nothing new
    assert again_ingest.added == [] and sorted(again_ingest.existing) == sorted(ingest.added)
    assert again_predict.predicted == 0 and again_predict.already_predicted == len(NOTES)
    assert _contents(store) == single_process


def test_worker_killed_mid_batch_loses_and_repeats_nothing(pool_env, single_process, notes_dir: Path) -> None:
    pool, store = pool_env
    _empty(store)
    before = set(pool.pids())
    killed: list[int] = []

    def kill_one(p, result) -> None:  # after the first shard: the other worker is busy with its own
        if not killed:
            victim = next(pid for pid in before if pid != result["pid"])
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    ingest, predict = _run(pool, store, notes_dir, shard_size=1, on_result=kill_one)
    assert killed and killed[0] in before
    assert set(pool.pids()) - before, "Ray restarted the killed worker in a new process"
    assert sorted(ingest.added + ingest.existing) == sorted(single_process[0])
    assert _contents(store) == single_process


DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pydantic import SecretStr
    from cliniloop.services.core.settings import Settings
    from cliniloop.services.core.store import Store
    from cliniloop.services.scale.engine import EngineOptions
    from cliniloop.services.scale.ray_engine import RayPool, ray_ingest_notes, ray_predict_text

    address, url, notes, var = sys.argv[1:5]
    settings = Settings(var_dir=Path(var), deid_secret=SecretStr(sys.argv[5]), label_studio_api_key=None)
    with RayPool(settings, url, EngineOptions("ray", address=address, workers=2), deid_secret=sys.argv[5].encode()) as pool:
        def said(_pool, result):
            print("shard", flush=True)
        if sys.argv[6] == "ingest":
            ray_ingest_notes(pool, Path(notes), keep_original=False, shard_size=3)
        ray_predict_text(pool, Store(url), shard_size=1, on_result=said)
    print("done", flush=True)
    """
)


@pytest.fixture
def shared_store(request: pytest.FixtureRequest, tmp_path: Path):
    """The store many workers share: PostgreSQL where its server binaries are installed, else SQLite."""
    from tests.conftest import postgres_bin

    if postgres_bin() is None:
        st = _store(tmp_path / "driver.sqlite3")
        yield st
        st.close()
        return
    st = Store(request.getfixturevalue("postgres_url"))
    st.migrate()
    yield st
    from cliniloop.services.core.tables import Base

    Base.metadata.drop_all(st.engine)
    with st.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    st.close()


def test_driver_killed_and_run_again_ends_exact(ray_session, single_process, notes_dir: Path, tmp_path: Path, shared_store: Store) -> None:
    ray = ray_session
    _free_cpus()
    store = shared_store
    address = ray.get_runtime_context().gcs_address  # this machine's Ray: SQLite allowed
    from cliniloop.services.loop.deid import NoteDeidentifier
    from cliniloop.services.loop.ingest import ingest_notes

    settings = _settings(tmp_path)  # the first run finds the notes stored (a cheaper kill: the workers load the rules only)
    ingest_notes(store, notes_dir, settings.max_note_bytes, NoteDeidentifier.from_settings(settings))
    args = [sys.executable, "-c", DRIVER, address, store.url, str(notes_dir), str(tmp_path), TEST_DEID_SECRET.decode(), "predict"]
    log = tmp_path / "driver.log"
    with log.open("w") as err:
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        assert first.stdout is not None
        line = first.stdout.readline()  # one shard of predictions stored
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert line.strip() == "shard", log.read_text()[-3000:]
    partial = _contents(store)
    assert len(partial[0]) == len(NOTES) and 0 < len(partial[1]) < len(NOTES)
    done = subprocess.run([*args[:-1], "ingest"], capture_output=True, text=True, timeout=600)  # the whole step again
    assert done.returncode == 0 and done.stdout.strip().endswith("done"), done.stderr[-2000:]
    assert _contents(store) == single_process


def test_sqlite_refused_for_a_remote_cluster(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    for address in ("10.1.2.3:6379", "ray://head.example.org:10001"):
        assert is_remote_address(address)
        with pytest.raises(EngineError, match="PostgreSQL"):
            check_store_for_cluster(url, address)
    check_store_for_cluster("postgresql+psycopg://u@db.example.org/cliniloop", "10.1.2.3:6379")  # shared store: fine
    check_store_for_cluster(url, None)  # a local Ray started here
    assert not is_remote_address("127.0.0.1:6379") and not is_remote_address(None)
    with pytest.raises(EngineError, match="--engine ray"):
        EngineOptions("local", address="10.1.2.3:6379")


def test_cli_refuses_sqlite_with_remote_address_before_starting_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cliniloop.services.cli.main import app
    from cliniloop.services.core.settings import get_settings

    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("CLINILOOP_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["predict", "--engine", "ray", "--address", "10.1.2.3:6379"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "SQLite" in result.output and "CLINILOOP_DATABASE_URL" in result.output


def _job_pid(store, settings, progress, *, params, actor):
    progress(0.5, "half way")
    return {"pid": os.getpid()}


def _job_dies(store, settings, progress, *, params, actor):
    os.kill(os.getpid(), signal.SIGKILL)


def test_jobs_run_as_ray_tasks_and_a_dead_worker_fails_its_job(ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliniloop.services.loop import jobs
    from cliniloop.services.scale.ray_jobs import run_job_on_ray

    _free_cpus()
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    monkeypatch.setitem(jobs.JOB_KINDS, "ray-pid", _job_pid)
    monkeypatch.setitem(jobs.JOB_KINDS, "ray-dies", _job_dies)
    store = _store(tmp_path / "jobs.sqlite3")
    settings = _settings(tmp_path)
    ok = store.enqueue_job("ray-pid")
    assert store.claim_next_job(["ray-pid"]).id == ok
    done = run_job_on_ray(store, settings, ok, timeout_s=240)
    assert done.status == "succeeded" and done.result["pid"] != os.getpid() and done.progress == 1.0  # ran in a Ray worker
    dies = store.enqueue_job("ray-dies")
    store.claim_next_job(["ray-dies"])
    failed = run_job_on_ray(store, settings, dies, timeout_s=240)
    assert failed.status == "failed" and failed.error.startswith("interrupted: the Ray worker running this job died")
    assert [e.details["status"] for e in store.audit_events() if e.action == "job_finished"] == ["succeeded", "failed"]
    store.close()
