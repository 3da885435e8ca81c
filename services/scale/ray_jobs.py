"""Background jobs (training) as Ray tasks: the API with ``--engine ray`` (setting ``CLINILOOP_ENGINE=ray``).

:class:`RayJobWorker` claims queued jobs from the job table like :class:`cliniloop.services.loop.jobs.JobWorker`
and runs each one as a Ray task with the job kind's resource needs (:func:`job_resources`: a GPU
for torch models when the cluster has one). The task runs :func:`cliniloop.services.loop.jobs.run_job`
on whatever node Ray picks, so the job table stays the record: state, progress, result and
error are written there by the task, as the in-process worker writes them.

A job whose worker process or node dies is detected by Ray: the task's result is an error
(worker crashed, node died, object lost) instead of a value, and the job, still ``running`` in
the table, is marked failed ("interrupted") by the API that dispatched it. Ray does not retry
a training task (``max_retries=0``): a retry would register a second model version.
"""

from __future__ import annotations

import logging
from typing import Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import JobRow
from cliniloop.services.loop.jobs import JOB_KINDS, JobWorker, run_job

log = logging.getLogger(__name__)

#: Job kinds whose models train on a GPU when one is there (torch).
GPU_KINDS = frozenset({"train-image", "train-ecg-cnn"})
#: What a job whose worker died is marked failed with.
WORKER_DIED = "interrupted: the Ray worker running this job died ({reason})"


def job_resources(kind: str, params: dict[str, Any] | None = None, cluster_gpus: float = 0.0) -> dict[str, float]:
    """Ray resources of a job: one CPU, plus one GPU for torch kinds (or ``params["gpu"]``) when the cluster has one."""
    wants_gpu = kind in GPU_KINDS or bool((params or {}).get("gpu"))
    return {"num_cpus": 1.0, "num_gpus": 1.0 if wants_gpu and cluster_gpus >= 1 else 0.0}


def _run_remote(settings: Settings, database_url: str, job_id: int, kind: str, fn: Any) -> dict[str, Any]:
    """Body of the Ray task: run one claimed job against the shared store; return where it ran."""
    import os
    import socket

    from cliniloop.services.core.private import private_umask

    private_umask()
    JOB_KINDS.setdefault(kind, fn)  # kinds registered at run time in the API process travel with the task
    store = Store(database_url)
    try:
        job = run_job(store, settings, job_id)
        return {"status": job.status if job is not None else None, "pid": os.getpid(), "host": socket.gethostname()}
    finally:
        store.close()


def run_job_on_ray(store: Store, settings: Settings, job_id: int, timeout_s: float | None = None) -> JobRow | None:
    """Run one claimed (``running``) job as a Ray task and wait for it; record a dead worker as a failed job.

    Ray must be started (:func:`cliniloop.services.scale.engine.start_ray`). Never raises for a job
    failure: the job row says what happened.
    """
    import ray

    job = store.job(job_id)
    if job is None:
        return None
    resources = job_resources(job.kind, job.params, float(ray.cluster_resources().get("GPU", 0.0)))
    task = ray.remote(_run_remote).options(max_retries=0, **resources)  # type: ignore[call-overload]
    ref = task.remote(settings, store.url, job_id, job.kind, JOB_KINDS.get(job.kind))
    store.update_job(job_id, message=f"dispatched to Ray ({resources['num_cpus']:g} CPU, {resources['num_gpus']:g} GPU)")
    try:
        where = ray.get(ref, timeout=timeout_s)
        log.info("job %s ran on Ray worker %s@%s", job_id, where.get("pid"), where.get("host"))
    except Exception as err:  # noqa: BLE001 - worker crash, node death, lost object: Ray tells, the table records
        reason = type(err).__name__
        current = store.job(job_id)
        if current is not None and current.status == "running":
            store.finish_job(job_id, error=WORKER_DIED.format(reason=reason))
            store.audit("cliniloop", "job_finished", "job", str(job_id), kind=job.kind, status="failed", error_type="interrupted")
            log.warning("job %s: its Ray worker died (%s); marked failed", job_id, str(err)[:500])
    return store.job(job_id)


class RayJobWorker(JobWorker):
    """:class:`~cliniloop.services.loop.jobs.JobWorker` whose jobs run as Ray tasks (one at a time per API).

    Parameters
    ----------
    store, settings
        The job table and what jobs run with (``settings.ray_address``: the cluster to join;
        ``None`` starts a local Ray).
    """

    def __init__(self, store: Store, settings: Settings, **kwargs: Any) -> None:
        super().__init__(store, settings, **kwargs)
        self.name = "cliniloop-ray-job-worker"

    def start(self) -> None:
        """Start or join Ray (refusing SQLite with a remote cluster), then work like the in-process worker."""
        from cliniloop.services.scale.engine import start_ray

        start_ray(getattr(self.settings, "ray_address", None), None, self.store.url)
        super().start()

    def execute(self, job_id: int) -> None:
        """Dispatch one claimed job to Ray and wait for it; a dispatch failure fails the job, not the worker."""
        try:
            run_job_on_ray(self.store, self.settings, job_id)
        except Exception:  # the worker thread must survive (e.g. Ray shut down under it)
            log.exception("job %s: could not dispatch it to Ray", job_id)
            self.store.finish_job(job_id, error="interrupted: could not dispatch the job to Ray")
