"""Pull: bring Label Studio annotations into the store, reconciling creates, updates and deletes.

Skipped (cancelled) annotations are ignored; an annotation that disappeared from Label Studio
is removed from the store. Pulling the same state twice changes nothing, so webhooks may be
repeated or lost: a later pull converges.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.convert import annotation_from_ls, phi_corrections
from cliniloop.models.text.deid.types import PHI_TYPES
from cliniloop.services.core.store import Store

log = logging.getLogger(__name__)
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
    #: PHI corrections (missed identifiers) added per identifier type.
    phi_added: dict[str, int] = field(default_factory=dict)
    phi_removed: int = 0
    #: Tasks whose annotations changed (checked for disagreement after the pull).
    touched: set[str] = field(default_factory=set)
    #: Adjudications opened (new disagreements) and withdrawn (annotators now agree).
    adjudications_opened: int = 0
    adjudications_withdrawn: int = 0
    #: Tasks whose corrected text has not reached Label Studio yet: not reconciled this time
    #: (their Label Studio annotations are still on the old text).
    held: set[str] = field(default_factory=set)
    #: What applying the new ``phi`` marks did (:mod:`cliniloop.services.loop.deid_corrections`), if anything.
    corrections: Any = None
    #: Label Studio tasks whose annotations could not be stored: ``(ls task id, error)``; skipped,
    #: the rest of the pull goes on, and the next pull retries them.
    failed: list[tuple[int, str]] = field(default_factory=list)


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
    if task_id in report.held:
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
        if outcome != "unchanged":
            store.audit(
                ann.annotator or "annotator", "annotation_received", "task", task_id,
                annotation=ann.source_annotation_id, outcome=outcome, regions=len(ann.regions),
                model_version=ann.model_version, taxonomy_version=ann.taxonomy_version,
            )  # fmt: skip
        report.touched.add(task_id)
        _store_phi_corrections(store, task_id, ann.source_annotation_id, ann.annotator, raw, report)
    removed = store.remove_annotations_except(task_id, SOURCE, keep, prefix=f"{project_id}:")
    if removed:
        store.audit("label_studio", "annotation_removed", "task", task_id, count=removed)
        report.touched.add(task_id)
    report.deleted += removed
    report.phi_removed += store.remove_phi_corrections_except(task_id, keep, prefix=f"{project_id}:")


def _store_phi_corrections(
    store: Store, task_id: str, source_id: str, annotator: str | None, raw: dict[str, Any], report: PullReport
) -> None:
    """Store the identifiers an annotation marked as missed (offsets and type, never the text)."""
    spans = phi_corrections(raw.get("result") or [], list(PHI_TYPES))
    task = store.get_task(task_id)
    detector = ((task.data or {}).get("deid") or {}).get("detector") if task else None
    before = {(r.start, r.end) for r in store.phi_corrections(task_id) if r.source_annotation_id == source_id}
    added, removed = store.replace_phi_corrections(source_id, task_id, annotator, spans, detector)
    report.phi_removed += removed
    if added:
        new = [t for s, e, t in spans if (s, e) not in before]
        for phi_type in new:
            report.phi_added[phi_type] = report.phi_added.get(phi_type, 0) + 1
        counts: dict[str, int] = {}
        for phi_type in new:
            counts[phi_type] = counts.get(phi_type, 0) + 1
        store.audit(annotator or "annotator", "phi_correction", "task", task_id, counts=counts, detector=detector)


def _settings_secret() -> bytes:
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.deid import deid_secret

    return deid_secret(get_settings())


def pull_annotations(
    store: Store,
    client: LabelStudioClient,
    project_id: int,
    ls_task_ids: Iterable[int] | None = None,
    progress: Progress | None = None,
    *,
    deid_secret: bytes | None = None,
) -> PullReport:
    """Reconcile annotations of a whole project, or only of the given Label Studio task ids.

    Identifiers marked as missed (``phi`` marks) are then replaced in the task text, in the
    store and in Label Studio, and join the project's deny-list
    (:func:`cliniloop.services.loop.deid_corrections.correct_project`); a Label Studio copy an earlier
    run could not update is brought up to date first. ``deid_secret`` defaults to the
    settings' key (:func:`cliniloop.services.loop.deid.deid_secret`), read only when there is a mark.
    """
    report = PullReport()
    prefix = _source_id(project_id, "")
    if store.phi_correction_task_ids(unsynced=True, prefix=prefix):
        from cliniloop.services.loop.deid_corrections import sync_phi_corrections

        report.corrections = sync_phi_corrections(store, client, project_id)
        report.held = set(store.phi_correction_task_ids(unsynced=True, prefix=prefix))
    if ls_task_ids is None:
        items = client.iter_project_annotations(project_id)
    else:
        items = ((tid, client.task_data(tid, project_id), client.task_annotations(tid)) for tid in ls_task_ids)
    for ls_id, data, ls_annotations in items:
        try:
            reconcile_task(store, project_id, data, ls_annotations, report)
        except Exception as err:  # noqa: BLE001 - one odd annotation must not stop the pull
            log.warning("pull skipped Label Studio task %s: %s", ls_id, type(err).__name__)
            report.failed.append((int(ls_id), f"{type(err).__name__}: {str(err)[:200]}"))
        if progress:
            progress(1)
    if store.phi_correction_task_ids(unapplied=True, prefix=prefix):
        from cliniloop.services.loop.deid_corrections import correct_project

        secret = deid_secret if deid_secret is not None else _settings_secret()
        report.corrections = correct_project(store, client, project_id, secret)
    if report.touched:
        from cliniloop.services.quality.adjudication import detect_disagreements

        found = detect_disagreements(store, task_ids=report.touched, source_project_ref=client.project_ref(project_id))
        report.adjudications_opened, report.adjudications_withdrawn = len(found.opened), len(found.withdrawn)
    if report.created or report.updated or report.deleted:
        store.audit(
            "cliniloop",
            "pull",
            "project",
            client.project_ref(project_id),
            created=report.created,
            updated=report.updated,
            deleted=report.deleted,
            adjudications_opened=report.adjudications_opened,
        )
    return report


def _after_removal(store: Store, client: LabelStudioClient, project_id: int, task_id: str, removed: int, report: PullReport) -> None:
    """Bookkeeping after annotations of ``task_id`` were removed: phi marks, audit, disagreements."""
    prefix = _source_id(project_id, "")
    keep = [a.source_annotation_id for a in store.annotations(task_id) if a.source == SOURCE and (a.source_annotation_id or "").startswith(prefix)]
    report.phi_removed += store.remove_phi_corrections_except(task_id, keep, prefix=prefix)
    if not removed:
        return
    report.deleted += removed
    report.touched.add(task_id)
    store.audit("label_studio", "annotation_removed", "task", task_id, count=removed)
    from cliniloop.services.quality.adjudication import detect_disagreements

    found = detect_disagreements(store, task_ids=[task_id], source_project_ref=client.project_ref(project_id))
    report.adjudications_opened += len(found.opened)
    report.adjudications_withdrawn += len(found.withdrawn)


def remove_annotations_by_id(
    store: Store, client: LabelStudioClient, project_id: int, annotation_ids: Iterable[int]
) -> PullReport:
    """Apply an ``ANNOTATIONS_DELETED`` event: remove those annotations, found by their Label Studio id.

    No call to Label Studio is needed (the event names what went); an id the store does not
    hold (never pulled, or already removed) changes nothing, so repeats are harmless.
    """
    report = PullReport()
    for ann_id in annotation_ids:
        source_id = _source_id(project_id, ann_id)
        task_id = store.annotation_task_id(SOURCE, source_id)
        if task_id is None:
            report.unchanged += 1
            continue
        _after_removal(store, client, project_id, task_id, store.remove_annotation(SOURCE, source_id), report)
    if report.deleted:
        store.audit("cliniloop", "pull", "project", client.project_ref(project_id), created=0, updated=0, deleted=report.deleted,
                    adjudications_opened=report.adjudications_opened)  # fmt: skip
    return report


def remove_task_annotations(store: Store, client: LabelStudioClient, project_id: int, ls_task_ids: Iterable[int]) -> PullReport:
    """Apply a ``TASKS_DELETED`` event: the deleted tasks' annotations from this project go."""
    report = PullReport()
    project_ref = client.project_ref(project_id)
    for ls_id in ls_task_ids:
        task_id = store.task_id_for_external(project_ref, ls_id)
        if task_id is None:
            report.unknown_tasks += 1
            continue
        removed = store.remove_annotations_except(task_id, SOURCE, [], prefix=_source_id(project_id, ""))
        _after_removal(store, client, project_id, task_id, removed, report)
    return report
