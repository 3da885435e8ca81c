"""Label Studio ML-backend protocol: ``/health``, ``/setup``, ``/predict``, ``/versions``.

Label Studio calls ``/health`` (1 s timeout) and ``/setup`` (3 s) before every batch, so both
answer without touching the model. ``/predict`` reuses stored predictions and runs the model
only for tasks that have none.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from cliniloop.connectors.label_studio.convert import prediction_payload
from cliniloop.services.api.auth import require
from cliniloop.services.api.deps import StateDep, StoreDep
from cliniloop.services.core.store import Store, prediction_from_row
from cliniloop.services.loop.predict import TEXT_MODEL_NAME, predict_texts

log = logging.getLogger(__name__)
router = APIRouter(tags=["label-studio-ml-backend"])
#: Label Studio connects with HTTP Basic, the annotator token as password.
ANNOTATOR = [Depends(require("annotator"))]


@router.get("/health")
async def health() -> dict[str, Any]:
    """Liveness for Label Studio (and people); ``instance`` is the random id the starter gave this process, if any."""
    import os

    from cliniloop.services.api.server import INSTANCE_ENV

    out: dict[str, Any] = {"status": "UP", "model_class": "cliniloop"}
    if os.environ.get(INSTANCE_ENV):
        out["instance"] = os.environ[INSTANCE_ENV]
    return out


def _current_version(store: Store) -> str:
    """The promoted text model version, else the newest registered one, else a placeholder."""
    registered = store.model_versions(TEXT_MODEL_NAME)
    return store.alias(TEXT_MODEL_NAME) or (registered[-1] if registered else "cliniloop-text")


@router.post("/setup", dependencies=ANNOTATOR)
def setup(store: StoreDep, body: dict[str, Any] | None = None) -> dict[str, str]:
    """Acknowledge a project's connection; answer with the current text model version."""
    return {"model_version": _current_version(store)}


@router.get("/versions", dependencies=ANNOTATOR)
def versions(store: StoreDep) -> dict[str, list[str]]:
    """Registered text model versions, oldest first."""
    return {"versions": store.model_versions(TEXT_MODEL_NAME)}


class PredictTask(BaseModel):
    """One task as Label Studio sends it (other fields allowed and ignored)."""

    model_config = ConfigDict(extra="allow")

    id: int | str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class PredictRequest(BaseModel):
    """Label Studio's ``/predict`` body (``project``, ``label_config``, ``params`` and the like are ignored)."""

    model_config = ConfigDict(extra="allow")

    tasks: list[PredictTask] = Field(default_factory=list, max_length=1000)


def _cliniloop_id(data: dict[str, Any]) -> str:
    value = data.get("cliniloop_id")
    return value if isinstance(value, str) else ""


def _predict(state: StateDep, tasks: list[PredictTask]) -> list[dict[str, Any]]:
    stored = state.store.latest_predictions(TEXT_MODEL_NAME, [_cliniloop_id(t.data) for t in tasks])
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    todo: list[tuple[int, str]] = []
    for i, task in enumerate(tasks):
        data = task.data
        pred = stored.get(_cliniloop_id(data))
        if pred is not None:
            results[i] = prediction_payload(prediction_from_row(pred))
        elif isinstance(data.get("text"), str):
            todo.append((i, data["text"]))
        else:
            log.warning("a task has no text field; returning an empty prediction")
            results[i] = {"result": [], "score": 0.0, "model_version": _current_version(state.store)}
    if todo:
        preds = predict_texts(state.text_model(), [(str(i), text) for i, text in todo])
        for (i, _), p in zip(todo, preds, strict=True):
            results[i] = prediction_payload(p)
    return [r for r in results if r is not None]


@router.post("/predict", dependencies=ANNOTATOR)
async def predict(state: StateDep, body: PredictRequest) -> dict[str, Any]:
    """Predictions for the tasks Label Studio sends, one entry per task, in order."""
    return {"results": await run_in_threadpool(_predict, state, body.tasks)}
