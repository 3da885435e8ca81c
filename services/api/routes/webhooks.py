"""Webhook receiver for Label Studio events: acknowledge at once, reconcile in the background.

Label Studio gives a webhook one second and never retries, so the handler only writes the
audit row and queues work for the reconciler thread (:mod:`cliniloop.services.api.reconciler`), which
coalesces repeats and applies one event at a time: an annotation event re-reads that task, a
deletion removes the deleted annotations by id (no pull of the project). Both make repeated
or out-of-order deliveries harmless; ``cliniloop pull`` catches anything a lost webhook missed.

``START_TRAINING`` (the ML backend's "Start training") queues a ``train-text`` job for the job
worker. With ``CLINILOOP_TRAIN_EVERY_ANNOTATIONS=N`` (N > 0), an annotation event also queues
one once N annotations were created or updated since training was last requested (checked
when the reconciler's queue empties; bursts coalesce into one queued job).

Callers: Label Studio's webhooks bring the shared secret (actor ``label_studio``); the ML-backend
connection brings a token instead (actor ``api:<role>``), and ``START_TRAINING`` then needs the
engineer role, as ``POST /api/train`` does. A body that is not a Label Studio event (an
``annotation`` that is no object, an ``action`` longer than 64 characters) answers ``422``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from cliniloop.services.api.auth import refuse, require_webhook_secret
from cliniloop.services.api.deps import StateDep
from cliniloop.services.api.reconciler import ANNOTATION_ACTIONS, DELETE_ACTIONS, event_keys
from cliniloop.services.api.state import AppState
from cliniloop.services.core.access import ROLES, allows

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

#: Largest id taken from an event (Label Studio ids are database integers).
MAX_ID = 2**63 - 1


class WebhookEvent(BaseModel):
    """A Label Studio webhook or ML-backend event (other fields are allowed and ignored)."""

    model_config = ConfigDict(extra="allow")

    action: str = Field(default="", max_length=64)
    project: dict[str, Any] | int | None = None
    task: dict[str, Any] | int | None = None
    annotation: dict[str, Any] | None = None


def _id(obj: Any) -> int | None:
    """A positive id from ``{"id": ...}``, an int or a string of ASCII digits; else ``None``."""
    if isinstance(obj, dict):
        obj = obj.get("id")
    if isinstance(obj, bool):
        return None
    if isinstance(obj, str) and obj.isascii() and obj.isdigit() and len(obj) <= 19:
        obj = int(obj)
    return obj if isinstance(obj, int) and 0 <= obj <= MAX_ID else None


WebhookCaller = Annotated[str, Depends(require_webhook_secret)]


@router.post("/webhook")
def webhook(state: StateDep, request: Request, caller: WebhookCaller, body: WebhookEvent) -> dict[str, Any]:
    """Receive a Label Studio webhook or ML-backend event."""
    action = body.action
    project_id = _id(body.project)
    ls_task_id = _id(body.task) or _id((body.annotation or {}).get("task"))
    actor = f"api:{caller}" if caller in ROLES else "label_studio"
    if action == "START_TRAINING" and caller in ROLES and not allows(caller, "engineer"):
        raise refuse(request, status.HTTP_403_FORBIDDEN, f"the {caller} role may not start training (engineer or above)", caller)
    state.store.audit(actor, "webhook", "project", str(project_id), event=action, task=ls_task_id)
    if action == "START_TRAINING":
        from cliniloop.services.loop.jobs import TRAIN_TEXT

        job_id = state.enqueue_job(TRAIN_TEXT, {}, requested_by=f"{actor} START_TRAINING (project {project_id})")
        state.store.audit(actor, "train_requested", "project", str(project_id), job_id=job_id, trigger="START_TRAINING")
        return {"status": "queued", "action": action, "job_id": job_id}
    if project_id is not None and (action in ANNOTATION_ACTIONS or action in DELETE_ACTIONS):
        keys = event_keys(action, project_id, ls_task_id, body.model_dump(), _id)
        if keys:
            state.reconciler().submit(action, keys)
            return {"status": "queued", "action": action}
    return {"status": "ignored", "action": action}
