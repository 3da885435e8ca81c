"""Label Studio ML-backend protocol: ``/health``, ``/setup``, ``/predict``, ``/versions``.

Label Studio calls ``/health`` (1 s timeout) and ``/setup`` (3 s) before every batch, so both
answer without touching the model. ``/predict`` reuses stored predictions and runs the model
only for tasks that have none.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from connectors.label_studio.convert import regions_to_result
from services.api.deps import StateDep
from services.core.schemas import regions_from_json
from services.loop.predict import TEXT_MODEL_NAME, predict_texts

log = logging.getLogger(__name__)
router = APIRouter(tags=["label-studio-ml-backend"])


@router.get("/health")
def health() -> dict[str, Any]:
    """Liveness for Label Studio (and people)."""
    return {"status": "UP", "model_class": "cliniloop"}


@router.post("/setup")
def setup(state: StateDep, body: dict[str, Any] | None = None) -> dict[str, str]:
    """Acknowledge a project's connection; answer with the current text model version."""
    version = state.store.alias(TEXT_MODEL_NAME) or _latest_version(state)
    return {"model_version": version}


def _latest_version(state: StateDep) -> str:
    from services.core.tables import ModelVersionRow  # local: keeps route module light

    with state.store.session() as s:
        row = s.query(ModelVersionRow).filter_by(name=TEXT_MODEL_NAME).order_by(ModelVersionRow.id.desc()).first()
    return row.version if row else "cliniloop-text"


@router.get("/versions")
def versions(state: StateDep) -> dict[str, list[str]]:
    """Registered text model versions, oldest first."""
    from services.core.tables import ModelVersionRow

    with state.store.session() as s:
        rows = s.query(ModelVersionRow.version).filter_by(name=TEXT_MODEL_NAME).order_by(ModelVersionRow.id).all()
    return {"versions": [r[0] for r in rows]}


def _predict(state: StateDep, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stored = state.store.latest_predictions(TEXT_MODEL_NAME, [t.get("data", {}).get("cliniloop_id", "") for t in tasks])
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    todo: list[tuple[int, str]] = []
    for i, task in enumerate(tasks):
        data = task.get("data") or {}
        pred = stored.get(data.get("cliniloop_id", ""))
        if pred is not None:
            results[i] = {
                "result": regions_to_result(regions_from_json(pred.regions)),
                "score": pred.score,
                "model_version": pred.model_version,
            }
        elif isinstance(data.get("text"), str):
            todo.append((i, data["text"]))
        else:
            log.warning("task %s has no text field; returning an empty prediction", task.get("id"))
            results[i] = {"result": [], "score": 0.0, "model_version": _latest_version(state)}
    if todo:
        preds = predict_texts(state.text_model(), [(str(i), text) for i, text in todo])
        for (i, _), p in zip(todo, preds, strict=True):
            results[i] = {"result": regions_to_result(p.regions), "score": p.score, "model_version": p.model_version}
    return [r for r in results if r is not None]


@router.post("/predict")
async def predict(state: StateDep, body: dict[str, Any]) -> dict[str, Any]:
    """Predictions for the tasks Label Studio sends, one entry per task, in order."""
    tasks = body.get("tasks") or []
    return {"results": await run_in_threadpool(_predict, state, tasks)}
