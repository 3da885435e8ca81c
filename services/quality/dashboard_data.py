"""What the quality dashboard shows, gathered from the store as plain JSON-able data.

Per project (one per modality): the queue (tasks, predicted, sent to Label Studio, annotated,
labelled by two or more annotators, adjudications open and resolved, gold checks) and the
pooled agreement per label; across projects: annotators' gold accuracy, suggestion acceptance
per model version, the learning curve of every promoted model (dev metric against labels, in
promotion order), and the newest audit events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.core.settings import Settings
from services.core.store import Store
from services.quality.agreement_report import ALL_PAIRS, SCORE_MEASURES, agreement_report
from services.quality.gold import gold_accuracy
from services.quality.labels import annotations_by_task, per_annotator
from services.quality.monitor import suggestion_report

#: Dev metrics tried, in order, for a model's learning curve.
CURVE_METRICS = ("f1", "map50", "map", "mean_dice", "sensitivity", "accuracy", "macro_f1")
MODALITIES = ("text", "ecg", "eeg", "image")


def _queue(store: Store, modality: str, tasks: list[Any], by_task: dict[str, list[Any]], gold: set[str]) -> dict[str, int]:
    ids = {t.id for t in tasks}
    predicted = {p.task_id for p in store.predictions(ids)}
    pushed = {p.task_id for p in store.push_rows(ids)}
    adjudications = store.adjudications(modality=modality)
    return {
        "tasks": len(ids),
        "predicted": len(predicted),
        "pushed": len(pushed),
        "annotated": sum(1 for t in ids if by_task.get(t)),
        "multi_annotated": sum(1 for t in ids if len(per_annotator(by_task.get(t, []))) >= 2),
        "adjudications_open": sum(a.status == "open" for a in adjudications),
        "adjudications_resolved": sum(a.status == "resolved" for a in adjudications),
        "gold_tasks": len(ids & gold),
    }


def learning_curves(store: Store) -> list[dict[str, Any]]:
    """Per promoted model: ``(version, labels, metric value)`` of each version promoted, in promotion order."""
    curves = []
    for name in store.promoted_model_names():
        rows = {r.version: r for r in store.model_version_rows(name)}
        points, metric = [], None
        for p in store.promotions(name):
            if p.action != "promote" or p.version not in rows:
                continue
            row = rows[p.version]
            metrics = row.metrics or {}
            metric = metric or next((m for m in CURVE_METRICS if isinstance(metrics.get(m), int | float)), None)
            value = metrics.get(metric) if metric else None
            points.append({"version": p.version, "labels": row.label_count, "value": value, "at": p.at.isoformat() if p.at else None})
        curves.append({"model": name, "metric": metric, "points": points, "promoted": store.alias(name)})
    return curves


def dashboard_data(store: Store, settings: Settings, audit_limit: int = 25) -> dict[str, Any]:
    """Everything the dashboard shows (see the module docstring)."""
    by_task = annotations_by_task(store)
    gold = set(store.gold_answers())
    agreement = agreement_report(store, threshold=settings.low_agreement_threshold)
    projects = []
    for modality in MODALITIES:
        tasks = store.list_tasks(modality)
        if not tasks:
            continue
        refs = sorted({p.project_ref for p in store.push_rows({t.id for t in tasks})})
        rows = [
            {"label": r.label, "measure": r.measure, "value": r.value, "items": r.items}
            for r in agreement.rows
            if r.modality == modality and r.annotators == ALL_PAIRS and r.measure in SCORE_MEASURES
        ]
        projects.append({
            "modality": modality,
            "project_refs": refs,
            "queue": _queue(store, modality, tasks, by_task, gold),
            "agreement": rows,
            "low_labels": [f"{r['label']} ({r['measure']})" for r in rows if r["value"] is not None and r["value"] < agreement.threshold],
        })  # fmt: skip
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
