"""One active-learning round for clinical text: ingest -> predict/score -> select -> push."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from connectors.label_studio.client import LabelStudioClient
from connectors.sources.notes import count_note_files
from services.core.settings import Settings, get_settings
from services.core.store import Store
from services.loop.deid import NoteDeidentifier
from services.loop.ingest import IngestReport, ingest_notes
from services.loop.predict import TEXT_MODEL_NAME, PredictReport, TextModel, predict_tasks
from services.loop.push import PushReport, ensure_text_project, push_tasks, quality_push_options
from services.loop.select import Selection, select_tasks

StepProgress = Callable[[str, int], Callable[[int], None]]


@dataclass
class TaskStats:
    """Summary statistics over a set of predicted tasks."""

    tasks: int = 0
    entities: Counter[tuple[str, str]] = field(default_factory=Counter)
    uncertainty: dict[str, float] = field(default_factory=dict)
    histogram: list[int] = field(default_factory=list)


@dataclass
class RoundReport:
    """Everything a round did, for the summary."""

    ingest: IngestReport
    predict: PredictReport
    selection: Selection
    push: PushReport | None
    stats: TaskStats
    stopping: Any = None  # services.loop.train.StoppingStatus


def task_stats(store: Store, task_ids: list[str], bins: int = 10) -> TaskStats:
    """Entities by (label, assertion) and the uncertainty spread over ``task_ids``.

    ``uncertainty`` holds min, p25, median, p75, max and mean; ``histogram`` counts tasks in
    ``bins`` equal-width bins over [0, 1].
    """
    preds = store.latest_predictions(TEXT_MODEL_NAME, task_ids)
    stats = TaskStats(tasks=len(preds))
    for p in preds.values():
        for r in p.regions:
            stats.entities[(r["label"], r.get("attributes", {}).get("assertion", "present"))] += 1
    u = np.array([p.uncertainty for p in preds.values()], dtype=float)
    if u.size:
        q = np.quantile(u, [0.0, 0.25, 0.5, 0.75, 1.0])
        stats.uncertainty = {k: round(float(v), 3) for k, v in zip(("min", "p25", "median", "p75", "max"), q, strict=True)}
        stats.uncertainty["mean"] = round(float(u.mean()), 3)
        stats.histogram = np.histogram(u, bins=bins, range=(0.0, 1.0))[0].tolist()
    return stats


def run_text_round(
    store: Store,
    model: TextModel,
    notes: Path,
    budget: int,
    *,
    client: LabelStudioClient | None,
    project_title: str,
    max_note_bytes: int,
    strategy: str = "uncertainty",
    progress: StepProgress | None = None,
    settings: Settings | None = None,
) -> RoundReport:
    """Run one round; with ``client=None`` it stops after selection (nothing is pushed)."""

    def step(name: str, total: int) -> Callable[[int], None] | None:
        return progress(name, total) if progress else None

    settings = settings or get_settings()
    ingest = ingest_notes(
        store,
        notes,
        max_note_bytes,
        NoteDeidentifier.from_settings(settings),
        step("ingest", count_note_files(notes)),
        keep_original=settings.deid_keep_original,
    )
    predict = predict_tasks(store, model, None, progress=step("predict", store.count_tasks("text")))
    selection = select_tasks(store, budget, strategy)
    push = None
    if client is not None:
        project_id = ensure_text_project(client, project_title)
        from services.loop.coding import span_code_candidates_for

        codes = span_code_candidates_for(store, settings)
        push = push_tasks(
            store, client, project_id, selection.task_ids, progress=step("push", len(selection.task_ids)), code_candidates=codes,
            **quality_push_options(settings),
        )  # fmt: skip
        store.mark_round_pushed(selection.round_id)
    from services.loop.train import stopping_status

    stopping = stopping_status(store, settings)
    return RoundReport(ingest, predict, selection, push, task_stats(store, selection.task_ids), stopping)
