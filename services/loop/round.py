"""One active-learning round for every modality: ingest -> predict/score -> select -> push.

:func:`run_round` runs the same steps for every entry of :mod:`cliniloop.services.loop.modalities`;
:func:`push_selection` and :func:`pull_modality` are the push and pull of every modality, and
:func:`stopping_status_for` runs the stopping rule for each of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.services.core.settings import Settings, get_settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import TEXT_MODEL_NAME
from cliniloop.services.loop.push import PushReport, push_tasks, quality_push_options
from cliniloop.services.loop.select import Selection, select_tasks

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

    ingest: Any  # the modality's ingest report (``added``, ``existing``, ``errors``); None when nothing was ingested
    predict: Any  # PredictReport / InferReport: ``predicted``, ``already_predicted``, ``model_version``
    selection: Selection
    push: PushReport | None
    stats: TaskStats
    stopping: Any = None  # cliniloop.services.loop.train.StoppingStatus
    modality: str = "text"
    pushes: list[tuple[str, PushReport]] = field(default_factory=list)  # every project pushed to (EEG: one per montage)
    project_ids: list[int] = field(default_factory=list)


def task_stats(store: Store, task_ids: list[str], bins: int = 10, model_name: str = TEXT_MODEL_NAME) -> TaskStats:
    """Entities by (label, assertion) and the uncertainty spread over ``task_ids``.

    ``uncertainty`` holds min, p25, median, p75, max and mean; ``histogram`` counts tasks in
    ``bins`` equal-width bins over [0, 1].
    """
    preds = store.latest_predictions(model_name, task_ids)
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


def push_selection(
    store: Store,
    client: LabelStudioClient,
    modality: str,
    task_ids: Sequence[str],
    *,
    settings: Settings | None = None,
    project_title: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[int, PushReport]]:
    """Push ``task_ids`` of ``modality`` with their newest predictions to the modality's project(s).

    Returns ``(project id, report)`` per project (EEG: one project per channel montage).
    """
    from cliniloop.services.loop.modalities import get_modality

    settings = settings or get_settings()
    mod = get_modality(modality)
    title = project_title or mod.project(settings)
    tasks = mod.tasks(store, ids=list(task_ids))
    order = {tid: i for i, tid in enumerate(task_ids)}
    tasks.sort(key=lambda t: order.get(t.id, len(order)))
    out = []
    for part in mod.projects(store, settings, title, tasks):
        project_id = client.ensure_project(part.title, part.label_config)
        extra: dict[str, Any] = {}
        if mod.name == "text":
            from cliniloop.services.loop.coding import span_code_candidates_for

            extra["code_candidates"] = span_code_candidates_for(store, settings)
        else:
            extra.update(model_name=mod.prediction_model, label_config=part.label_config, task_data=mod.task_data)
        report = push_tasks(store, client, project_id, part.task_ids, progress=progress, **extra, **quality_push_options(settings))
        out.append((project_id, report))
    return out


def pull_modality(
    store: Store, client: LabelStudioClient, modality: str, *, settings: Settings | None = None, project_title: str | None = None
) -> list[tuple[str, Any]]:
    """Pull annotations of every project of ``modality``: ``(project title, PullReport)`` each.

    Raises
    ------
    LookupError
        When none of the modality's projects exists in Label Studio yet.
    """
    from cliniloop.services.loop.modalities import get_modality, project_titles
    from cliniloop.services.loop.pull import pull_annotations

    settings = settings or get_settings()
    mod = get_modality(modality)
    title = project_title or mod.project(settings)
    out = []
    for name in project_titles(mod, store, title):
        project_id = client.find_project(name)
        if project_id is not None:
            out.append((name, pull_annotations(store, client, project_id)))
    if not out:
        raise LookupError(f"no Label Studio project {title!r}: push a {mod.name} round first")
    return out


def stopping_status_for(store: Store, settings: Settings, modality: str) -> Any:
    """The stopping rule for ``modality``.

    Text: over the stop-set agreement of every trained NER version (:func:`cliniloop.services.loop.train.stopping_status`).
    Other modalities: over the agreement of consecutive prediction versions on a fixed stop set of
    tasks (:func:`cliniloop.models.sampling.stopping.stop_set`, seed 0): per task, the multiset of predicted
    labels, compared with :func:`cliniloop.models.sampling.stopping.agreement` (Cohen's kappa) between each
    model version and the one before it.
    """
    from cliniloop.models.sampling.stopping import StoppingRule, agreement, stop_set
    from cliniloop.services.loop.modalities import get_modality
    from cliniloop.services.loop.train import StoppingStatus, stopping_status

    mod = get_modality(modality)
    if mod.store_modality == "text":
        return stopping_status(store, settings)
    tasks = {t.id: t for t in mod.tasks(store)}
    chosen = stop_set(tasks, settings.stop_set_size, seed=0)
    by_version: dict[str, dict[str, str]] = {}
    for p in store.predictions(chosen):
        if p.model_name == mod.prediction_model:
            by_version.setdefault(p.model_version, {})[p.task_id] = "|".join(sorted(r.get("label", "") for r in p.regions))
    versions = list(by_version)  # first-seen order (oldest first)
    rule = StoppingRule(threshold=settings.stop_threshold, window=settings.stop_window)
    agreements: list[float] = []
    decision = None
    for before, after in zip(versions, versions[1:], strict=False):
        common = sorted(set(by_version[before]) & set(by_version[after]))
        if not common:
            continue
        a = round(float(agreement([by_version[before][t] for t in common], [by_version[after][t] for t in common])), 5)
        agreements.append(a)
        decision = rule.update(a)
    if decision is None:
        return StoppingStatus([], False, f"no agreement yet: the stopping rule needs two {mod.name} model versions (keep labelling)")
    return StoppingStatus(agreements, decision.should_stop, decision.reason)


def run_round(
    store: Store,
    modality: str,
    source: Path | None,
    budget: int,
    *,
    client: LabelStudioClient | None,
    strategy: str = "uncertainty",
    project_title: str | None = None,
    settings: Settings | None = None,
    progress: StepProgress | None = None,
    seed: int = 0,
    cost_aware: bool = False,
    rare_boost: float | None = None,
    ingest_options: dict[str, Any] | None = None,
) -> RoundReport:
    """One round of ``modality``: ingest ``source`` (skipped when ``None``), predict, select (a recorded
    round), push (skipped with ``client=None``), stopping rule.

    Raises
    ------
    ValueError
        For an unknown modality or strategy, or a modality without a task loop (``codes``).
    cliniloop.models.sampling.selection.EmptyPoolError
        When nothing is left to select.
    """
    from cliniloop.services.loop.modalities import get_modality

    def step(name: str, total: int) -> Callable[[int], None] | None:
        return progress(name, total) if progress else None

    settings = settings or get_settings()
    mod = get_modality(modality)
    if mod.infer is None or mod.ingest is None or mod.name == "codes":
        raise ValueError(f"modality {mod.name!r} has no task round: use `cliniloop codes push` for the coders' queue")
    ingest = None
    if source is not None:
        total = _count_sources(mod.store_modality, source)
        ingest = mod.ingest(store, source, settings, step("ingest", total), **(ingest_options or {}))
    predict = mod.infer(store, settings, step("predict", len(mod.tasks(store))))
    selection = select_tasks(
        store, budget, strategy, modality=mod.name, seed=seed, cost_aware=cost_aware, rare_boost=rare_boost, settings=settings
    )
    pushes: list[tuple[int, PushReport]] = []
    if client is not None:
        pushes = push_selection(
            store, client, mod.name, selection.task_ids, settings=settings, project_title=project_title,
            progress=step("push", len(selection.task_ids)),
        )  # fmt: skip
        store.mark_round_pushed(selection.round_id)
    stopping = stopping_status_for(store, settings, mod.name)
    stats = task_stats(store, selection.task_ids, model_name=mod.prediction_model if mod.name != "text" else TEXT_MODEL_NAME)
    return RoundReport(
        ingest, predict, selection, pushes[0][1] if pushes else None, stats, stopping, modality=mod.name,
        pushes=[(r.project_ref, r) for _, r in pushes], project_ids=[pid for pid, _ in pushes],
    )  # fmt: skip


def _count_sources(store_modality: str, source: Path) -> int:
    if store_modality == "text":
        from cliniloop.connectors.sources.notes import count_note_files

        return count_note_files(source)
    if source.is_file():
        return 1
    # one progress step per recording or image (WFDB records count their header only)
    kinds = {".hea", ".edf", ".bdf", ".csv", ".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp"}
    return sum(1 for p in source.rglob("*") if p.is_file() and p.suffix.lower() in kinds)
