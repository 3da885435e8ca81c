"""Which labels training may use: one per task, never an unresolved disagreement.

Per task, in this order:

1. the task is a gold check: its known answer;
2. a reviewer resolved an adjudication: the reviewer's result;
3. one annotator: their newest annotation;
4. several annotators whose agreement (the lowest pairwise
   :func:`cliniloop.models.quality.agreement.task_agreement`) reaches the threshold: the newest of them;
5. several annotators below the threshold (with or without an open adjudication): left out.

Each annotator counts once per task (their newest annotation); annotations without a known
annotator count as one unknown annotator (a newer one replaces an older one).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any, Literal

from cliniloop.models.quality.agreement import task_agreement
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import AnnotationRow, as_utc

#: Per-region choice compared by the task-level agreement of each modality (text: assertion).
AGREEMENT_ATTRIBUTE: dict[str, str | None] = {"text": "assertion", "ecg": None, "eeg": None, "image": None}

LabelSource = Literal["gold", "adjudicated", "single", "agreed"]


def _utc(value: datetime | None) -> datetime:
    return as_utc(value if value is not None else datetime.min)


def annotator_key(ann: AnnotationRow) -> str:
    """Who made an annotation: the annotator, else ``"unknown"`` (one unknown person)."""
    return ann.annotator or "unknown"


def per_annotator(annotations: Iterable[AnnotationRow]) -> dict[str, AnnotationRow]:
    """The newest annotation of each annotator (by ``updated_at``, then id)."""
    out: dict[str, AnnotationRow] = {}
    for ann in annotations:
        key = annotator_key(ann)
        cur = out.get(key)
        if cur is None or (_utc(ann.updated_at), ann.id) > (_utc(cur.updated_at), cur.id):
            out[key] = ann
    return out


def annotations_by_task(store: Store, task_ids: Container[str] | None = None) -> dict[str, list[AnnotationRow]]:
    """The store's annotations grouped by task (only of ``task_ids`` when given)."""
    by_task: dict[str, list[AnnotationRow]] = {}
    for ann in store.annotations():
        if task_ids is None or ann.task_id in task_ids:
            by_task.setdefault(ann.task_id, []).append(ann)
    return by_task


def agreement_of(modality: str, annotations: Sequence[AnnotationRow]) -> float:
    """The lowest pairwise task agreement of these annotations (1.0 for fewer than two)."""
    attribute = AGREEMENT_ATTRIBUTE.get(modality)
    values = [task_agreement(a.regions, b.regions, attribute=attribute) for a, b in combinations(annotations, 2)]
    return min(values, default=1.0)


@dataclass(frozen=True)
class TaskLabel:
    """The label training uses for one task.

    Attributes
    ----------
    key : str
        What it is, for training-set hashes: ``gold:<task>``, ``adjudication:<id>`` or
        ``annotation:<id>``.
    regions : list of dict
        Stored region dicts.
    updated_at : datetime
        When it last changed.
    """

    task_id: str
    regions: list[dict[str, Any]]
    source: LabelSource
    key: str
    updated_at: datetime
    annotators: tuple[str, ...] = ()


@dataclass
class TaskLabels:
    """Training labels by task id, and the tasks left out as unresolved disagreements."""

    labels: dict[str, TaskLabel] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)

    def get(self, task_id: str) -> TaskLabel | None:
        """The task's label, or ``None`` (not annotated, or an unresolved disagreement)."""
        return self.labels.get(task_id)


def training_labels(store: Store, modality: str | None = None, threshold: float | None = None) -> TaskLabels:
    """One label per annotated task of ``modality`` (all modalities when ``None``), see the module docstring.

    Parameters
    ----------
    threshold : float, optional
        Agreement under which annotators disagree; default ``CLINILOOP_AGREEMENT_THRESHOLD``.
    """
    if threshold is None:
        from cliniloop.services.core.settings import get_settings

        threshold = get_settings().agreement_threshold
    tasks = {t.id: t.modality for t in store.list_tasks(modality)}
    by_task = annotations_by_task(store, tasks)
    gold = {tid: g for tid, g in store.gold_answers().items() if tid in tasks}
    resolved = {a.task_id: a for a in store.adjudications(status="resolved") if a.task_id in tasks}
    out = TaskLabels()
    for tid in sorted(set(by_task) | set(gold) | set(resolved)):
        if tid in gold:
            g = gold[tid]
            out.labels[tid] = TaskLabel(tid, list(g.regions), "gold", f"gold:{tid}", _utc(g.created_at))
            continue
        if tid in resolved:
            adj = resolved[tid]
            out.labels[tid] = TaskLabel(
                tid, list(adj.regions or []), "adjudicated", f"adjudication:{adj.id}", _utc(adj.resolved_at), (adj.reviewer or "",)
            )
            continue
        newest = per_annotator(by_task[tid])
        anns = list(newest.values())
        if len(anns) > 1 and agreement_of(tasks[tid], anns) < threshold:
            out.unresolved.append(tid)
            continue
        latest = max(anns, key=lambda a: (_utc(a.updated_at), a.id))
        source: LabelSource = "single" if len(anns) == 1 else "agreed"
        out.labels[tid] = TaskLabel(tid, list(latest.regions), source, f"annotation:{latest.id}", _utc(latest.updated_at), tuple(sorted(newest)))
    return out
