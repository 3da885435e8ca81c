"""Training jobs and model versions: ``/api/train``, ``/api/jobs``, ``/api/models``.

Training never runs on the request path: ``POST /api/train`` queues a job and answers ``202``
with its id at once; the app's job worker runs it, and ``GET /api/jobs/{id}`` follows it.
"""

from __future__ import annotations

from typing import Any, Literal

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from cliniloop.services.api.auth import EngineerRole, require
from cliniloop.services.api.deps import StateDep, StoreDep
from cliniloop.services.loop.jobs import TRAIN_TEXT, job_summary
from cliniloop.services.loop.models import model_listing
from cliniloop.services.loop.predict import NER_MODEL_NAME

router = APIRouter(prefix="/api", tags=["training"], dependencies=[Depends(require("engineer"))])


class TrainRequest(BaseModel):
    """Optional parameters of a training job."""

    max_iterations: int | None = Field(default=None, gt=0, le=100_000, description="CRF iterations (default: CLINILOOP_NER_MAX_ITERATIONS).")
    model: Literal["auto", "crf", "transformer"] | None = Field(
        default=None, description="Entity tagger: auto (CRF, plus the transformer where a GPU is seen; the better dev metric), crf or transformer (default: CLINILOOP_NER_MODEL)."
    )


@router.post("/train", status_code=status.HTTP_202_ACCEPTED)
def train(state: StateDep, role: EngineerRole, body: TrainRequest | None = None) -> dict[str, Any]:
    """Queue a ``train-text`` job (or join the one already queued); answers at once with its id."""
    params = body.model_dump(exclude_none=True) if body else {}
    actor = f"api:{role}"
    job_id = state.enqueue_job(TRAIN_TEXT, params, requested_by=actor)
    state.store.audit(actor, "train_requested", "job", str(job_id), job_id=job_id, trigger="POST /api/train")
    job = state.store.job(job_id)
    return {"job_id": job_id, "status": job.status if job else "queued", "url": f"/api/jobs/{job_id}"}


@router.get("/jobs")
def jobs(store: StoreDep, limit: int = Query(default=50, ge=1, le=1000), kind: str | None = None) -> dict[str, Any]:
    """The newest jobs, newest first."""
    return {"jobs": [job_summary(j) for j in store.jobs(limit=limit, kind=kind)]}


@router.get("/jobs/{job_id}")
def job(store: StoreDep, job_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict[str, Any]:
    """One job: status, progress, message, and its result or error."""
    row = store.job(job_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    return job_summary(row)


@router.get("/models")
def models(store: StoreDep, name: str = NER_MODEL_NAME) -> dict[str, Any]:
    """Registered versions of a model (newest first) with dev metrics, and which one is promoted."""
    return model_listing(store, name)
