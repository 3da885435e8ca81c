"""Webhook receiver for Label Studio events: acknowledge at once, reconcile in the background.

Label Studio gives a webhook one second and never retries, so the handler only queues work.
Reconciling re-reads the task's annotations from Label Studio, which makes repeated or
out-of-order deliveries harmless; ``cliniloop pull`` catches anything a lost webhook missed.

``START_TRAINING`` (the ML backend's "Start training") queues a ``train-text`` job for the job
worker. With ``CLINILOOP_TRAIN_EVERY_ANNOTATIONS=N`` (N > 0), an annotation event also queues
one once N annotations were created or updated since training was last requested (checked
after the event's reconcile; bursts coalesce into one queued job).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends

from services.api.auth import require_webhook_secret
from services.api.deps import StateDep
from services.api.state import AppState

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

ANNOTATION_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED"}
DELETE_ACTIONS = {"ANNOTATIONS_DELETED", "ANNOTATION_DELETED", "TASKS_DELETED"}


def _id(obj: Any) -> int | None:
    if isinstance(obj, dict):
        obj = obj.get("id")
    return int(obj) if isinstance(obj, int | str) and str(obj).isdigit() else None


def reconcile(state: AppState, action: str, project_id: int, ls_task_id: int | None) -> None:
    """Background work for one event: pull the task (or the whole project for deletions), then
    queue training if enough annotations arrived since it was last requested."""
    from services.loop.jobs import TRAIN_TEXT, training_due
    from services.loop.pull import pull_annotations

    try:
        client = state.label_studio()
        tasks = [ls_task_id] if ls_task_id is not None and action in ANNOTATION_ACTIONS else None
        report = pull_annotations(state.store, client, project_id, tasks)
        log.info("webhook %s project %s: %s", action, project_id, report)
    except Exception:  # a background task must never take the server down
        log.exception("reconciling webhook %s for project %s failed; the next pull will catch up", action, project_id)
    if action not in ANNOTATION_ACTIONS:
        return
    try:
        if training_due(state.store, state.settings):
            job_id = state.enqueue_job(TRAIN_TEXT, {}, requested_by=f"label_studio {action} (project {project_id})")
            state.store.audit("label_studio", "train_requested", "project", str(project_id), job_id=job_id, trigger="annotations")
    except Exception:
        log.exception("queueing training after webhook %s failed", action)


@router.post("/webhook", dependencies=[Depends(require_webhook_secret)])
def webhook(state: StateDep, background: BackgroundTasks, body: dict[str, Any]) -> dict[str, Any]:
    """Receive a Label Studio webhook or ML-backend event."""
    action = str(body.get("action", ""))
    project_id = _id(body.get("project"))
    ls_task_id = _id(body.get("task")) or _id((body.get("annotation") or {}).get("task"))
    state.store.audit("label_studio", "webhook", "project", str(project_id), event=action, task=ls_task_id)
    if action == "START_TRAINING":
        from services.loop.jobs import TRAIN_TEXT

        job_id = state.enqueue_job(TRAIN_TEXT, {}, requested_by=f"label_studio START_TRAINING (project {project_id})")
        state.store.audit("label_studio", "train_requested", "project", str(project_id), job_id=job_id, trigger="START_TRAINING")
        return {"status": "queued", "action": action, "job_id": job_id}
    if project_id is not None and (action in ANNOTATION_ACTIONS or action in DELETE_ACTIONS):
        background.add_task(reconcile, state, action, project_id, ls_task_id)
        return {"status": "queued", "action": action}
    return {"status": "ignored", "action": action}
