"""Adjudication: disagreements become tasks in a reviewer project; the reviewer's result is the gold label.

1. :func:`detect_disagreements` (run after every pull): a task whose annotators' agreement is
   below ``CLINILOOP_AGREEMENT_THRESHOLD`` gets an ``open`` adjudication; training leaves the
   task out while it is open (:mod:`cliniloop.services.quality.labels`). An open one whose annotators
   have since come to agree is ``withdrawn``.
2. :func:`push_adjudications`: each open adjudication becomes a task in the reviewer project of
   its source project (same label config, title ``<source title> review``). The task shows
   what the annotators saw, and each annotator's version as a prediction named
   ``annotator <who>``, so the reviewer picks one and corrects it.
3. :func:`pull_adjudications`: the reviewer's newest submitted annotation resolves the
   adjudication (its regions are the task's gold label); deleting it reopens the adjudication.

Reviewer tasks carry ``data.cliniloop_adjudication`` (the adjudication id) and no
``cliniloop_id``, so the ordinary pull never mistakes a review for a third annotator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.convert import annotation_from_ls
from cliniloop.services.core.schemas import regions_to_json
from cliniloop.services.core.store import Store
from cliniloop.services.quality.labels import agreement_of, annotations_by_task, per_annotator

log = logging.getLogger(__name__)

#: Data key of a reviewer task: the adjudication id.
ADJUDICATION_KEY = "cliniloop_adjudication"
#: Label Studio's longest project title.
MAX_TITLE_CHARS = 50


@dataclass
class DetectReport:
    """Adjudications opened, refreshed (still disagreeing, annotations changed) and withdrawn."""

    opened: list[int] = field(default_factory=list)
    refreshed: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)


@dataclass
class AdjudicationSyncReport:
    """What a push and a pull of reviewer projects did."""

    pushed: list[int] = field(default_factory=list)
    not_pushable: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    projects: dict[str, int] = field(default_factory=dict)


def project_id_of(project_ref: str) -> int:
    """The Label Studio project id of a project reference ``{base_url}/projects/{id}``."""
    tail = project_ref.rstrip("/").rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise ValueError(f"not a Label Studio project reference: {project_ref!r}")
    return int(tail)


def review_title(title: str, suffix: str) -> str:
    """The reviewer project's title: ``title + suffix``, the title cut to fit 50 characters."""
    return title[: MAX_TITLE_CHARS - len(suffix)].rstrip() + suffix


def detect_disagreements(
    store: Store,
    *,
    task_ids: Iterable[str] | None = None,
    threshold: float | None = None,
    source_project_ref: str | None = None,
) -> DetectReport:
    """Open adjudications for tasks whose annotators disagree (see the module docstring).

    Parameters
    ----------
    task_ids : iterable of str, optional
        Only these tasks (default: every annotated task).
    threshold : float, optional
        Default ``CLINILOOP_AGREEMENT_THRESHOLD``.
    source_project_ref : str, optional
        The project the annotations came from (where the reviewer task's content is read).
    """
    if threshold is None:
        from cliniloop.services.core.settings import get_settings

        threshold = get_settings().agreement_threshold
    wanted = set(task_ids) if task_ids is not None else None
    gold = store.gold_answers()
    existing = {a.task_id: a for a in store.adjudications()}
    by_task = annotations_by_task(store, wanted)
    modality = {t.id: t.modality for t in store.list_tasks(ids=list(by_task))}
    report = DetectReport()
    for task_id, anns in sorted(by_task.items()):
        if task_id in gold or task_id not in modality:
            continue  # a gold check's answer is known: annotators are scored, not adjudicated
        newest = per_annotator(anns)
        current = existing.get(task_id)
        if len(newest) < 2:
            continue
        agreement = agreement_of(modality[task_id], list(newest.values()))
        if agreement >= threshold:
            if current is not None and current.status == "open":
                store.withdraw_adjudication(current.id)
                store.audit("cliniloop", "adjudication_withdrawn", "task", task_id, adjudication=current.id, agreement=round(agreement, 4))
                report.withdrawn.append(current.id)
            continue
        if current is not None and current.status == "resolved":
            continue
        ref = source_project_ref or (current.source_project_ref if current else None) or _project_of(store, task_id, newest)
        ids = [a.source_annotation_id for a in newest.values()]
        if current is not None and current.status == "open" and sorted(ids) == sorted(current.annotation_ids):
            store.open_adjudication(task_id, modality[task_id], agreement, threshold, ids, sorted(newest), ref)
            continue  # the same annotations, edited: the figure is refreshed, nothing to announce
        adj_id, created = store.open_adjudication(task_id, modality[task_id], agreement, threshold, ids, sorted(newest), ref)
        opened = created or (current is not None and current.status == "withdrawn")
        (report.opened if opened else report.refreshed).append(adj_id)
        store.audit(
            "cliniloop", "adjudication_opened" if opened else "adjudication_refreshed", "task", task_id,
            adjudication=adj_id, agreement=round(agreement, 4), threshold=threshold, annotators=len(newest),
        )  # fmt: skip
    return report


def _project_of(store: Store, task_id: str, newest: dict[str, Any]) -> str | None:
    """The project an annotation came from, by its source id ``<project id>:<annotation id>``."""
    pids = {str(a.source_annotation_id).split(":", 1)[0] for a in newest.values()}
    for row in store.push_rows([task_id]):
        if row.project_ref.rstrip("/").rsplit("/", 1)[-1] in pids:
            return row.project_ref
    return None


def push_adjudications(store: Store, client: LabelStudioClient, suffix: str = " review") -> AdjudicationSyncReport:
    """Send every open, unsent adjudication to its reviewer project (see the module docstring)."""
    report = AdjudicationSyncReport()
    todo = [a for a in store.adjudications(status="open") if a.external_task_id is None]
    by_source: dict[str, list[Any]] = {}
    for adj in todo:
        if adj.source_project_ref is None:
            report.not_pushable.append(adj.id)
            continue
        by_source.setdefault(adj.source_project_ref, []).append(adj)
    for source_ref, adjs in by_source.items():
        source_id = project_id_of(source_ref)
        source = client.project_settings(source_id)
        reviewer_id = client.ensure_project(review_title(source["title"], suffix), source["label_config"])
        reviewer_ref = client.project_ref(reviewer_id)
        report.projects[reviewer_ref] = reviewer_id
        in_ls = client.existing_task_ids(reviewer_id, key=ADJUDICATION_KEY)
        external = store.pushed(source_ref)
        payloads: list[tuple[int, dict[str, Any]]] = []
        for adj in adjs:
            if str(adj.id) in in_ls:  # an interrupted push had sent it
                store.mark_adjudication_pushed(adj.id, reviewer_ref, in_ls[str(adj.id)])
                report.pushed.append(adj.id)
                continue
            ls_task = external.get(adj.task_id)
            if ls_task is None:
                log.warning("adjudication %s: task %s is not recorded in %s; cannot show it", adj.id, adj.task_id, source_ref)
                report.not_pushable.append(adj.id)
                continue
            data = {k: v for k, v in client.task_data(ls_task, source_id).items() if k not in ("cliniloop_id", "uncertainty")}
            wanted = {str(i).split(":", 1)[1] for i in adj.annotation_ids}
            versions = [
                {"model_version": f"annotator {a.get('completed_by')}", "score": float(adj.agreement), "result": a.get("result") or []}
                for a in client.task_annotations(ls_task)
                if str(a.get("id")) in wanted
            ]
            data |= {ADJUDICATION_KEY: str(adj.id), "agreement": round(float(adj.agreement), 3)}
            payloads.append((adj.id, {"data": data, "predictions": versions}))
        if payloads:
            ids = client.import_tasks(reviewer_id, [p for _, p in payloads])
            for (adj_id, _), ext in zip(payloads, ids, strict=True):
                store.mark_adjudication_pushed(adj_id, reviewer_ref, ext)
                report.pushed.append(adj_id)
        store.audit("cliniloop", "adjudication_push", "project", reviewer_ref, sent=len(payloads), source=source_ref)
    return report


def pull_adjudications(store: Store, client: LabelStudioClient, report: AdjudicationSyncReport | None = None) -> AdjudicationSyncReport:
    """Resolve adjudications from the reviewers' newest submitted annotations (see the module docstring)."""
    report = report or AdjudicationSyncReport()
    adjudications = {a.id: a for a in store.adjudications() if a.project_ref}
    for ref in sorted({a.project_ref for a in adjudications.values() if a.project_ref}):
        project_id = project_id_of(ref)
        for _ls_id, data, reviews in client.iter_project_annotations(project_id):
            key = str(data.get(ADJUDICATION_KEY, ""))
            adj = adjudications.get(int(key)) if key.isdigit() else None
            if adj is None:
                continue
            submitted = [a for a in reviews if not a.get("was_cancelled")]
            if not submitted:
                if store.reopen_adjudication(adj.id):
                    store.audit("cliniloop", "adjudication_reopened", "task", adj.task_id, adjudication=adj.id)
                    report.reopened.append(adj.id)
                continue
            newest = max(submitted, key=lambda a: (str(a.get("updated_at") or ""), int(a["id"])))
            ann = annotation_from_ls(newest, adj.task_id, task_text=data.get("text"))
            if ann is None:
                continue
            regions = regions_to_json(ann.regions)
            if store.resolve_adjudication(adj.id, regions, ann.annotator, f"{project_id}:{newest['id']}"):
                store.audit(
                    ann.annotator or "reviewer", "adjudication_resolved", "task", adj.task_id,
                    adjudication=adj.id, agreement=round(adj.agreement, 4), regions=len(regions),
                )  # fmt: skip
                report.resolved.append(adj.id)
    return report
