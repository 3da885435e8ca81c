"""Background jobs: training (and later other long work) off the request path.

A job is a row in the store's ``jobs`` table: ``queued -> running -> succeeded | failed``, with
progress, a message, its params and a JSON result or an error. Whoever wants work done
enqueues a job (API, webhook, CLI) and returns at once; a worker claims queued jobs one at a
time and runs the function registered for the job's kind in :data:`JOB_KINDS`:

* :class:`JobWorker`: a daemon thread the API starts with the app; it polls the table every
  ``job_poll_interval_s`` and is woken at once by :meth:`JobWorker.wake` after an enqueue;
* :func:`run_pending`: runs what is queued in the calling process (``cliniloop train --wait``).

Claims are atomic (see :meth:`Store.claim_next_job`), so several workers never run one job
twice. A job left ``running`` by a process that died is marked failed ("interrupted") when a
worker starts; one worker per store is assumed. Every start and finish is an audit event
(kind, status, model versions; never note text).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import JobRow
from cliniloop.services.loop.promotion import TrainResult
from cliniloop.services.loop.train import train_text_job

log = logging.getLogger(__name__)

TRAIN_TEXT = "train-text"
#: ``listener(job_id, fraction, message)``: sees every progress report of a job run in this process.
Listener = Callable[[int, float, str], None]


class JobFunction(Protocol):
    """What a job kind runs: ``fn(store, settings, progress, *, params, actor) -> result dict`` (or a :class:`TrainResult`)."""

    def __call__(
        self,
        store: Store,
        settings: Settings,
        progress: Callable[[float, str], None],
        *,
        params: dict[str, Any],
        actor: str,
    ) -> dict[str, Any] | TrainResult: ...


#: Job kind -> function. Tests may register their own kinds.
JOB_KINDS: dict[str, JobFunction] = {TRAIN_TEXT: train_text_job}

_AUDIT_RESULT_KEYS = ("modality", "version", "promoted", "previous_version", "metric_name", "metric", "baseline", "training_set_hash")


class UnknownJobKind(KeyError):
    """A job whose kind has no registered function."""


class _Progress:
    """Progress reporter of one job: writes to the store at most every ``interval_s``, tells a listener always."""

    def __init__(self, store: Store, job_id: int, listener: Listener | None, interval_s: float = 0.25) -> None:
        self.store = store
        self.job_id = job_id
        self.listener = listener
        self.interval_s = interval_s
        self._last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if self.listener is not None:
            try:
                self.listener(self.job_id, fraction, message)
            except Exception:  # a display problem must not fail the job
                log.debug("progress listener failed", exc_info=True)
        now = time.monotonic()
        if now - self._last >= self.interval_s or fraction >= 1.0:
            self._last = now
            self.store.update_job(self.job_id, progress=fraction, message=message)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def enqueue_job(store: Store, kind: str, params: dict[str, Any] | None = None, requested_by: str | None = None) -> int:
    """Queue a job of a registered kind (coalesced with a queued one of the same kind); return its id.

    Raises
    ------
    UnknownJobKind
        If ``kind`` is not in :data:`JOB_KINDS`.
    """
    if kind not in JOB_KINDS:
        raise UnknownJobKind(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
    job_id = store.enqueue_job(kind, params or {}, requested_by)
    log.info("job %s (%s) queued by %s", job_id, kind, requested_by)
    return job_id


def training_due(store: Store, settings: Settings) -> bool:
    """Whether ``train_every_annotations`` annotations were created or updated since training was last requested.

    Always ``False`` when the setting is 0 (automatic training off).
    """
    every = settings.train_every_annotations
    if every <= 0:
        return False
    last = store.jobs(limit=1, kind=TRAIN_TEXT)
    return store.count_annotations_since(last[0].created_at if last else None) >= every


def run_job(store: Store, settings: Settings, job_id: int, listener: Listener | None = None) -> JobRow | None:
    """Run one claimed (``running``) job to its end and record the outcome; never raises.

    An exception in the job marks it ``failed`` with ``"<ExceptionType>: <message>"``; anything
    the job did before (e.g. a registered but unpromoted model version) stays, the promoted
    version only changes when the job says so.

    Returns
    -------
    JobRow or None
        The finished job (``None`` if there is no such job).
    """
    try:
        job = store.job(job_id)
        if job is None:
            log.error("job %s does not exist", job_id)
            return None
        actor = f"job {job_id}" + (f" for {job.requested_by}" if job.requested_by else "")
        store.audit("cliniloop", "job_started", "job", str(job_id), kind=job.kind, requested_by=job.requested_by)
        log.info("job %s (%s) started", job_id, job.kind)
    except Exception:
        log.exception("job %s could not be started", job_id)
        return None
    started = time.monotonic()
    try:
        fn = JOB_KINDS.get(job.kind)
        if fn is None:
            raise UnknownJobKind(f"unknown job kind {job.kind!r}")
        raw = fn(store, settings, _Progress(store, job_id, listener), params=dict(job.params or {}), actor=actor)
        result = _json_safe(raw.as_dict() if isinstance(raw, TrainResult) else raw)
    except KeyboardInterrupt:
        _finish(store, job_id, job.kind, None, "interrupted (KeyboardInterrupt)", started)
        raise
    except Exception as err:
        log.exception("job %s (%s) failed", job_id, job.kind)
        _finish(store, job_id, job.kind, None, f"{type(err).__name__}: {err}", started)
    else:
        _finish(store, job_id, job.kind, result, None, started)
    try:
        return store.job(job_id)
    except Exception:
        log.exception("job %s: could not read it back", job_id)
        return None


def _finish(store: Store, job_id: int, kind: str, result: dict[str, Any] | None, error: str | None, started: float) -> None:
    try:
        store.finish_job(job_id, result=result, error=error)
        details: dict[str, Any] = {"kind": kind, "status": "failed" if error else "succeeded", "seconds": round(time.monotonic() - started, 3)}
        if error:
            details["error_type"] = error.split(":", 1)[0]
        else:
            details |= {k: result[k] for k in _AUDIT_RESULT_KEYS if result and k in result}
        store.audit("cliniloop", "job_finished", "job", str(job_id), **details)
        log.info("job %s (%s) %s", job_id, kind, details["status"] + (f": {error}" if error else ""))
    except Exception:
        log.exception("job %s: could not record its outcome", job_id)


def run_pending(
    store: Store, settings: Settings, listener: Listener | None = None, kinds: Iterable[str] | None = None
) -> list[JobRow]:
    """Claim and run queued jobs in this process, one at a time, until none is left.

    Returns
    -------
    list of JobRow
        The jobs this call ran, finished, in order.
    """
    kinds = list(kinds) if kinds is not None else None
    done = []
    while (job := store.claim_next_job(kinds)) is not None:
        finished = run_job(store, settings, job.id, listener)
        if finished is not None:
            done.append(finished)
    return done


def wait_for_job(store: Store, job_id: int, timeout_s: float | None = None, poll_s: float = 0.2, listener: Listener | None = None) -> JobRow:
    """Poll until a job (run by another worker) has finished; return it.

    Raises
    ------
    KeyError
        If there is no such job.
    TimeoutError
        If it has not finished within ``timeout_s``.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = store.job(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        if listener is not None and job.status == "running":
            listener(job_id, job.progress, job.message or "")
        if job.status in ("succeeded", "failed"):
            return job
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is still {job.status} after {timeout_s} s")
        time.sleep(poll_s)


def job_summary(job: JobRow) -> dict[str, Any]:
    """A job as plain JSON (API answers and CLI output)."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(float(job.progress or 0.0), 4),
        "message": job.message,
        "params": job.params or {},
        "result": job.result,
        "error": job.error,
        "requested_by": job.requested_by,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


class JobWorker(threading.Thread):
    """Daemon thread running queued jobs one at a time (started by the API app).

    Parameters
    ----------
    store, settings
        Where jobs are and what they run with.
    poll_interval_s : float, optional
        How often to look for queued jobs (default ``settings.job_poll_interval_s``);
        :meth:`wake` makes it look at once.
    kinds : iterable of str, optional
        Only claim these kinds (default: all).
    """

    def __init__(
        self, store: Store, settings: Settings, poll_interval_s: float | None = None, kinds: Iterable[str] | None = None
    ) -> None:
        super().__init__(name="cliniloop-job-worker", daemon=True)
        self.store = store
        self.settings = settings
        self.poll_interval_s = poll_interval_s if poll_interval_s is not None else settings.job_poll_interval_s
        self.kinds = list(kinds) if kinds is not None else None
        self.current_job: int | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def start(self) -> None:
        """Mark jobs a dead process left ``running`` as failed, then start polling."""
        try:
            stale = self.store.fail_interrupted_jobs()
            if stale:
                log.warning("marked %d job(s) left running by a stopped process as failed: %s", len(stale), stale)
                for job_id in stale:
                    self.store.audit("cliniloop", "job_finished", "job", str(job_id), status="failed", error_type="interrupted")
        except Exception:
            log.exception("could not check for interrupted jobs")
        super().start()

    def wake(self) -> None:
        """Look for queued jobs now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout_s: float | None = 30.0) -> None:
        """Ask the worker to stop after the current job and wait up to ``timeout_s`` for it."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout_s)
            if self.is_alive():
                log.warning("job worker still busy with job %s after %s s; leaving it (daemon thread)", self.current_job, timeout_s)

    def run(self) -> None:  # noqa: D102 - threading.Thread API
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                job = self.store.claim_next_job(self.kinds)
            except Exception:
                log.exception("job worker: claiming a job failed; retrying")
                job = None
            if job is None:
                self._wake.wait(self.poll_interval_s)
                continue
            self.current_job = job.id
            self.execute(job.id)
            self.current_job = None

    def execute(self, job_id: int) -> None:
        """Run one claimed job to its end (here, in this thread); subclasses run it elsewhere."""
        run_job(self.store, self.settings, job_id)
