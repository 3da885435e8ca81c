"""Pull: bring Label Studio annotations into the store, reconciling creates, updates and deletes.

Skipped (cancelled) annotations are ignored; an annotation that disappeared from Label Studio
is removed from the store. Pulling the same state twice changes nothing, so webhooks may be
repeated or lost: a later pull converges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from connectors.label_studio.client import LabelStudioClient
from connectors.label_studio.convert import annotation_from_ls
from services.core.store import Store

Progress = Callable[[int], None]
SOURCE = "label_studio"


@dataclass
class PullReport:
    """Counts of what a pull changed."""

    tasks: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    unknown_tasks: int = 0


def _source_id(project_id: int, annotation_id: Any) -> str:
    return f"{project_id}:{annotation_id}"


def reconcile_task(
    store: Store, project_id: int, task_data: dict[str, Any], annotations: list[dict[str, Any]], report: PullReport
) -> None:
    """Make the store's annotations of one Label Studio task equal to ``annotations``."""
    task_id = task_data.get("cliniloop_id")
    if not task_id or store.get_task(task_id) is None:
        report.unknown_tasks += 1
        return
    report.tasks += 1
    keep: list[str] = []
    for raw in annotations:
        ann = annotation_from_ls(raw, task_id, task_text=task_data.get("text"))
        if ann is None:
            report.skipped += 1
            continue
        ann = ann.model_copy(update={"source": SOURCE, "source_annotation_id": _source_id(project_id, raw["id"])})
        keep.append(ann.source_annotation_id)
        outcome = store.upsert_annotation(ann)
        setattr(report, outcome, getattr(report, outcome) + 1)
    report.deleted += store.remove_annotations_except(task_id, SOURCE, keep, prefix=f"{project_id}:")


def pull_annotations(
    store: Store,
    client: LabelStudioClient,
    project_id: int,
    ls_task_ids: Iterable[int] | None = None,
    progress: Progress | None = None,
) -> PullReport:
    """Reconcile annotations of a whole project, or only of the given Label Studio task ids."""
    report = PullReport()
    if ls_task_ids is None:
        items = client.iter_project_annotations(project_id)
    else:
        items = ((tid, client.task_data(tid, project_id), client.task_annotations(tid)) for tid in ls_task_ids)
    for _ls_id, data, ls_annotations in items:
        reconcile_task(store, project_id, data, ls_annotations, report)
        if progress:
            progress(1)
    if report.created or report.updated or report.deleted:
        store.audit(
            "cliniloop",
            "pull",
            "project",
            client.project_ref(project_id),
            created=report.created,
            updated=report.updated,
            deleted=report.deleted,
        )
    return report
