"""Quality routes: agreement, gold accuracy, suggestion acceptance, adjudications (engineer);
the audit trail and model promotion (admin); the dashboard page (engineer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from cliniloop.services.api.auth import AdminRole, require
from cliniloop.services.api.deps import StateDep, StoreDep

router = APIRouter(tags=["quality"])
ENGINEER = [Depends(require("engineer"))]


@router.get("/api/quality/agreement", dependencies=ENGINEER)
def agreement(state: StateDep, modality: str | None = None) -> dict[str, Any]:
    """Agreement per modality, label and annotator pair, with the low-agreement rows."""
    from cliniloop.services.quality.agreement_report import agreement_report

    return agreement_report(state.store, modality, state.settings.low_agreement_threshold).to_json()


@router.get("/api/quality/gold", dependencies=ENGINEER)
def gold(state: StateDep, period: Literal["day", "week", "month"] = "week") -> dict[str, Any]:
    """Annotators' accuracy on gold-check tasks per period and overall."""
    from cliniloop.services.quality.gold import gold_accuracy

    return gold_accuracy(state.store, state.settings.gold_target, period).to_json()


@router.get("/api/quality/suggestions", dependencies=ENGINEER)
def suggestions(store: StoreDep) -> dict[str, Any]:
    """Suggestions accepted, edited, deleted and missed per model version and label."""
    from cliniloop.services.quality.monitor import suggestion_report

    return suggestion_report(store).to_json()


@router.get("/api/adjudications", dependencies=ENGINEER)
def adjudications(store: StoreDep, status: Literal["open", "resolved", "withdrawn"] | None = None) -> dict[str, Any]:
    """Adjudications (newest last): task, agreement, annotators, reviewer task and result size."""
    return {
        "adjudications": [
            {
                "id": a.id, "task_id": a.task_id, "modality": a.modality, "status": a.status, "agreement": a.agreement,
                "annotators": a.annotators, "review_task": a.external_task_id, "project_ref": a.project_ref,
                "reviewer": a.reviewer, "regions": len(a.regions or []),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
            }
            for a in store.adjudications(status=status)
        ]
    }  # fmt: skip


@router.get("/api/audit")
def audit(
    store: StoreDep,
    role: AdminRole,
    action: str | None = None,
    actor: str | None = None,
    entity_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(default=1000, ge=1, le=100_000),
    format: Literal["json", "csv"] = "json",
) -> Any:
    """The audit trail (newest ``limit`` events, oldest first) as JSON or CSV."""
    from cliniloop.services.quality.audit_export import audit_csv, audit_records

    events = sorted(
        store.audit_events(action, actor=actor, entity_id=entity_id, since=since, until=until, limit=limit, newest_first=True),
        key=lambda e: e.id,
    )
    records = audit_records(events)
    store.audit(f"api:{role}", "export", "audit_events", None, rows=len(records), format=format)
    if format == "json":
        return {"count": len(records), "events": records}
    return Response(audit_csv(records), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="audit.csv"'})


class PromoteRequest(BaseModel):
    """Which version to promote, and why."""

    version: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=300)


@router.post("/api/models/{name}/promote")
def promote_model(state: StateDep, role: AdminRole, name: str, body: PromoteRequest) -> dict[str, Any]:
    """Point the ``production`` alias of ``name`` at a registered version (admin only)."""
    from cliniloop.services.loop.models import promote

    try:
        report = promote(state.store, state.settings, name, body.version, actor=f"api:{role}", reason=body.reason, refresh=False)
    except KeyError as err:
        raise HTTPException(status_code=404, detail=str(err).strip("'\"")) from err
    return {"name": name, "version": report.version, "previous_version": report.previous_version, "changed": report.changed}


@router.post("/api/models/{name}/rollback")
def rollback_model(state: StateDep, role: AdminRole, name: str) -> dict[str, Any]:
    """Move the ``production`` alias of ``name`` back to the version promoted before (admin only)."""
    from cliniloop.services.core.store import NoEarlierVersion
    from cliniloop.services.loop.models import rollback

    try:
        report = rollback(state.store, state.settings, name, actor=f"api:{role}", refresh=False)
    except NoEarlierVersion as err:
        raise HTTPException(status_code=409, detail=str(err)) from err
    return {"name": name, "version": report.version, "previous_version": report.previous_version}


@router.get("/dashboard", response_class=HTMLResponse, dependencies=ENGINEER)
async def dashboard(state: StateDep) -> HTMLResponse:
    """The quality dashboard: one server-rendered page with charts (no script, nothing fetched)."""
    from cliniloop.services.api.dashboard_html import render_dashboard
    from cliniloop.services.quality.dashboard_data import dashboard_data

    data = await run_in_threadpool(dashboard_data, state.store, state.settings)
    return HTMLResponse(render_dashboard(data))
