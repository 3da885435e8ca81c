"""Gold checks: tasks with known answers mixed into the queue, and each annotator's accuracy on them.

A gold task is an ordinary task of its project (annotators cannot tell it apart: it goes out
with the same kind of suggestions as the rest) whose known answer is stored in
``gold_answers``. Known answers come from a reviewer's adjudication or a trusted label
(:func:`mark_gold`) or from a file (:func:`import_gold`: a Label Studio JSON export, or JSON
lines ``{"task_id": ..., "regions": [...]}``).

Accuracy of one annotation = its :func:`cliniloop.models.quality.agreement.task_agreement` with the
known answer (1.0: every region matches, label and choices included). An annotator's accuracy
over a period is the mean over the gold tasks they labelled in it; ``passed`` counts the
exact ones. Annotators under ``CLINILOOP_GOLD_TARGET`` are flagged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cliniloop.models.quality.agreement import task_agreement
from cliniloop.services.core.schemas import regions_from_json, regions_to_json
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import as_utc
from cliniloop.services.quality.labels import AGREEMENT_ATTRIBUTE, annotations_by_task, per_annotator, training_labels

Period = Literal["day", "week", "month"]


def period_of(at: datetime, period: Period = "week") -> str:
    """The period a time falls in: ``2026-12-02``, ``2026-W49`` (ISO week) or ``2026-12``."""
    at = as_utc(at)
    if period == "day":
        return at.date().isoformat()
    if period == "month":
        return f"{at.year:04d}-{at.month:02d}"
    year, week, _ = at.isocalendar()
    return f"{year:04d}-W{week:02d}"


@dataclass
class AccuracyCell:
    """One annotator in one period: gold tasks labelled, mean accuracy, exact ones."""

    annotator: str
    period: str
    tasks: int = 0
    score_sum: float = 0.0
    passed: int = 0

    @property
    def accuracy(self) -> float | None:
        """Mean accuracy (``None`` without tasks)."""
        return self.score_sum / self.tasks if self.tasks else None


@dataclass
class GoldReport:
    """Accuracy per annotator and period, overall per annotator, and who is under the target."""

    target: float
    gold_tasks: int = 0
    cells: list[AccuracyCell] = field(default_factory=list)
    overall: dict[str, AccuracyCell] = field(default_factory=dict)

    def below_target(self) -> list[str]:
        """Annotators whose overall accuracy is under the target."""
        return sorted(a for a, c in self.overall.items() if c.accuracy is not None and c.accuracy < self.target)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""

        def cell(c: AccuracyCell) -> dict[str, Any]:
            return {"annotator": c.annotator, "period": c.period, "tasks": c.tasks, "accuracy": c.accuracy, "passed": c.passed}

        return {
            "target": self.target,
            "gold_tasks": self.gold_tasks,
            "annotators": [cell(c) | {"meets_target": (c.accuracy or 0.0) >= self.target} for c in self.overall.values()],
            "periods": [cell(c) for c in self.cells],
            "below_target": self.below_target(),
        }


def gold_accuracy(store: Store, target: float = 0.95, period: Period = "week") -> GoldReport:
    """Each annotator's accuracy on gold tasks, per period and overall (see the module docstring)."""
    gold = store.gold_answers()
    report = GoldReport(target=target, gold_tasks=len(gold))
    if not gold:
        return report
    modality = {t.id: t.modality for t in store.list_tasks(ids=list(gold))}
    by_task = annotations_by_task(store, gold)
    cells: dict[tuple[str, str], AccuracyCell] = {}
    for task_id, anns in sorted(by_task.items()):
        attribute = AGREEMENT_ATTRIBUTE.get(modality.get(task_id, ""))
        for who, ann in per_annotator(anns).items():
            score = task_agreement(ann.regions, gold[task_id].regions, attribute=attribute)
            when = period_of(ann.updated_at or ann.created_at, period)
            for cell in (cells.setdefault((who, when), AccuracyCell(who, when)), report.overall.setdefault(who, AccuracyCell(who, "all"))):
                cell.tasks += 1
                cell.score_sum += score
                cell.passed += score >= 1.0
    report.cells = sorted(cells.values(), key=lambda c: (c.annotator, c.period))
    report.overall = dict(sorted(report.overall.items()))
    return report


def mark_gold(store: Store, task_ids: Sequence[str], created_by: str) -> dict[str, str]:
    """Make tasks gold checks with their current training label as the known answer.

    Raises
    ------
    ValueError
        Naming a task without a usable label (not annotated, or an unresolved disagreement).
    """
    labels = training_labels(store)
    missing = [t for t in task_ids if labels.get(t) is None]
    if missing:
        reason = "annotators disagree and no reviewer resolved it" if missing[0] in labels.unresolved else "it has no label"
        raise ValueError(f"task {missing[0]} cannot be a gold check: {reason}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    out = {}
    for tid in task_ids:
        label = labels.get(tid)
        assert label is not None
        out[tid] = store.set_gold_answer(tid, label.regions, f"label:{label.source}", created_by)
        store.audit(created_by, "gold_marked", "task", tid, source=label.source, regions=len(label.regions))
    return out


def import_gold(store: Store, path: Path, created_by: str) -> dict[str, int]:
    """Read known answers from a Label Studio JSON export or a JSON-lines file; return counts.

    Every answer is checked before any is stored: a task that is not in the store or regions
    that do not validate stop the import with an error naming the file and the entry.
    """
    from cliniloop.connectors.label_studio.convert import annotation_from_ls

    text = path.read_text(encoding="utf-8")
    answers: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        data = json.loads(text)
        entries = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: neither JSON nor JSON lines ({err})") from err
    for i, entry in enumerate(entries):
        where = f"{path}, entry {i + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: not an object")
        if "task_id" in entry:
            try:
                regions = regions_to_json(regions_from_json(entry.get("regions") or []))
            except ValueError as err:
                raise ValueError(f"{where}: invalid regions: {err}") from err
            answers.append((str(entry["task_id"]), regions))
            continue
        task_id = (entry.get("data") or {}).get("cliniloop_id")
        submitted = [a for a in entry.get("annotations") or [] if not a.get("was_cancelled")]
        if not task_id or not submitted:
            raise ValueError(f"{where}: needs data.cliniloop_id and a submitted annotation (or task_id + regions)")
        try:
            ann = annotation_from_ls(max(submitted, key=lambda a: int(a.get("id", 0))), str(task_id), task_text=entry["data"].get("text"))
        except ValueError as err:
            raise ValueError(f"{where}: invalid annotation: {err}") from err
        answers.append((str(task_id), regions_to_json(ann.regions) if ann else []))
    known = {t.id for t in store.list_tasks(ids=[t for t, _ in answers])}
    unknown = [t for t, _ in answers if t not in known]
    if unknown:
        raise ValueError(f"{path}: task {unknown[0]} is not in the store" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for task_id, regions in answers:
        counts[store.set_gold_answer(task_id, regions, f"file:{path.name}", created_by)] += 1
    store.audit(created_by, "gold_import", "gold_answers", path.name, **counts)
    return counts


def mix_gold(store: Store, project_ref: str, task_ids: Sequence[str], share: float, seed: int = 0) -> list[str]:
    """``task_ids`` with gold tasks of the same kind added, so they make ``share`` of the batch.

    Gold tasks already in the project are not sent again; same kind = the same modality (and,
    for EEG, the same montage, since each montage has its own project). The gold tasks are put
    at random places of the batch.
    """
    if share <= 0.0 or not task_ids:
        return list(task_ids)
    gold = store.gold_answers()
    if not gold:
        return list(task_ids)
    given = store.list_tasks(ids=list(task_ids))
    kinds = {(t.modality, t.data.get("montage")) for t in given}
    skip = set(store.pushed(project_ref)) | set(task_ids)
    candidates = sorted(
        t.id for t in store.list_tasks(ids=list(gold)) if (t.modality, t.data.get("montage")) in kinds and t.id not in skip
    )
    wanted = min(len(candidates), max(1, round(len(task_ids) * share / max(1e-9, 1.0 - share))))
    rng = random.Random(seed)
    chosen = rng.sample(candidates, wanted) if candidates else []
    out = list(task_ids)
    for tid in chosen:
        out.insert(rng.randrange(len(out) + 1), tid)
    return out
