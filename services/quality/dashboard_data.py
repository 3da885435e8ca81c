"""What the quality dashboard shows, gathered from the store as plain JSON-able data.

Per project (one per modality, and the coders' project once mentions were sent to coders): the queue (tasks, predicted, sent to Label Studio, annotated,
labelled by two or more annotators, adjudications open and resolved, gold checks) and the
pooled agreement per label; across projects: annotators' gold accuracy, suggestion acceptance
per model version, the learning curve of every promoted model (dev metric against labels, in
promotion order), and the newest audit events.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.quality.agreement_report import ALL_PAIRS, SCORE_MEASURES, agreement_report
from cliniloop.services.quality.gold import gold_accuracy
from cliniloop.services.quality.monitor import suggestion_report

#: Dev metrics tried, in order, for a model's learning curve.
CURVE_METRICS = ("f1", "map50", "map", "mean_dice", "sensitivity", "accuracy", "macro_f1")
MODALITIES = ("text", "ecg", "eeg", "image")


def learning_curves(store: Store) -> list[dict[str, Any]]:
    """Per promoted model: ``(version, labels, metric value)`` of each version promoted, in promotion order.

    The metric is the one that decided the first promotion (``dev_metric`` in the version's
    metrics, written by every trainer), else the first of :data:`CURVE_METRICS` it has.
    """
    curves = []
    for name in store.promoted_model_names():
        rows = {r.version: r for r in store.model_version_rows(name)}
        points, metric = [], None
        for p in store.promotions(name):
            if p.action != "promote" or p.version not in rows:
                continue
            row = rows[p.version]
            metrics = row.metrics or {}
            named = metrics.get("dev_metric")  # the metric that decided the promotion (cliniloop.services.loop.promotion)
            if metric is None and isinstance(named, str) and isinstance(metrics.get(named), int | float):
                metric = named
            metric = metric or next((m for m in CURVE_METRICS if isinstance(metrics.get(m), int | float)), None)
            value = metrics.get(metric) if metric else None
            points.append({"version": p.version, "labels": row.label_count, "value": value, "at": p.at.isoformat() if p.at else None})
        curves.append({"model": name, "metric": metric, "points": points, "promoted": store.alias(name)})
    return curves


def coders_project(store: Store, threshold: float = 0.0) -> dict[str, Any] | None:
    """The coders' project (code validation of predicted mentions) in the shape of a modality's project.

    Its tasks are the mentions sent to coders (counted from the ``push_coder_tasks`` audit events),
    annotated the mentions with at least one coder's verdict, and its agreement the coders' verdict
    kappa (:func:`cliniloop.services.loop.mappings.mapping_agreement`). ``None`` before anything was sent.
    """
    from cliniloop.services.loop.mappings import mapping_agreement

    pushes = store.audit_events("push_coder_tasks", limit=10_000)
    rows = store.code_mappings()
    if not pushes and not rows:
        return None
    sent = sum(int((e.details or {}).get("created", 0)) for e in pushes)
    verdicts = {(r.task_id or "", r.normalized_mention, r.context if not r.task_id else "") for r in rows}
    refs = sorted({f"coders' project {e.entity_id}" for e in pushes if e.entity_id})
    agreement = mapping_agreement(store)
    kappa = agreement.get("verdict_kappa")
    return {
        "modality": "codes",
        "project_refs": refs,
        "queue": {
            "tasks": max(sent, len(verdicts)),
            "predicted": max(sent, len(verdicts)),
            "pushed": sent,
            "annotated": len(verdicts),
            "multi_annotated": int(agreement.get("items", 0) or 0),
        },
        "agreement": [{"label": "all", "measure": "verdict_kappa", "value": kappa, "items": agreement.get("items", 0)}],
        "low_labels": ["all (verdict_kappa)"] if kappa is not None and kappa < threshold else [],
    }


def dashboard_data(store: Store, settings: Settings, audit_limit: int = 25) -> dict[str, Any]:
    """Everything the dashboard shows (see the module docstring)."""
    annotated, predicted = store.annotated_task_ids(), store.predicted_task_ids()
    gold = set(store.gold_answers())
    adjudications = Counter((a.modality, a.status) for a in store.adjudications())
    agreement = agreement_report(store, threshold=settings.low_agreement_threshold)
    projects = []
    for modality in MODALITIES:
        ids = {t.id for t in store.list_tasks(modality)}
        if not ids:
            continue
        pushes = store.push_rows(ids)
        refs = sorted({p.project_ref for p in pushes})
        rows = [
            {"label": r.label, "measure": r.measure, "value": r.value, "items": r.items}
            for r in agreement.rows
            if r.modality == modality and r.annotators == ALL_PAIRS and r.measure in SCORE_MEASURES
        ]
        projects.append({
            "modality": modality,
            "project_refs": refs,
            "queue": {
                "tasks": len(ids),
                "predicted": len(ids & predicted),
                "pushed": len({p.task_id for p in pushes}),
                "annotated": len(ids & annotated),
                "multi_annotated": agreement.multi_annotated.get(modality, 0),
                "adjudications_open": adjudications[(modality, "open")],
                "adjudications_resolved": adjudications[(modality, "resolved")],
                "gold_tasks": len(ids & gold),
            },
            "agreement": rows,
            "low_labels": [f"{r['label']} ({r['measure']})" for r in rows if r["value"] is not None and r["value"] < agreement.threshold],
        })  # fmt: skip
    coding = coders_project(store, agreement.threshold)
    if coding is not None:
        projects.append(coding)
    suggestions = suggestion_report(store).to_json()["versions"]
    events = store.audit_events(limit=audit_limit, newest_first=True)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "agreement_threshold": agreement.threshold,
        "projects": projects,
        "gold": gold_accuracy(store, settings.gold_target).to_json(),
        "suggestions": suggestions,
        "learning_curves": learning_curves(store),
        "audit": [
            {"at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action, "entity": e.entity, "entity_id": e.entity_id}
            for e in events
        ],
    }
