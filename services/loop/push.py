"""Push: send selected tasks and their predictions to Label Studio, each exactly once.

Which tasks a project already holds is read from Label Studio itself (tasks carry
``data.cliniloop_id``) as well as from the store, so a push that failed after Label Studio
accepted a batch but before the store recorded it never imports that batch twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.config import text_label_config
from cliniloop.connectors.label_studio.convert import prediction_payload, regions_to_result, task_payload
from cliniloop.services.core.schemas import PredictionIn
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store, prediction_from_row
from cliniloop.services.core.tables import PredictionRow
from cliniloop.services.loop.deid import require_deidentified, shareable_data
from cliniloop.services.loop.predict import TEXT_MODEL_NAME
from cliniloop.services.quality.gold import mix_gold
from cliniloop.taxonomies.label_schemas import load_label_schema

Progress = Callable[[int], None]
#: ``(note text, regions) -> regions`` with ranked code candidates attached to each span.
CodeCandidates = Callable[[str, Sequence[Any]], list[Any]]


@dataclass
class PushReport:
    """What a push did."""

    project_id: int
    project_ref: str
    created: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    predictions_added: list[str] = field(default_factory=list)
    model_version: str | None = None
    gold_added: int = 0
    #: Tasks whose Label Studio data could not be built (e.g. a recording gone bad): ``(task, error)``;
    #: skipped, so a re-run retries them.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Seconds spent per stage (``prepare``, ``validate``, ``codes``, ``import``, ``record``).
    timings: dict[str, float] = field(default_factory=dict)


def quality_push_options(settings: Settings) -> dict[str, Any]:
    """:func:`push_tasks` options from settings: the gold-check share and the project's overlap."""
    return {"gold_share": settings.gold_share, "overlap": (settings.overlap_annotators, settings.overlap_percentage)}


def _record_by_version(
    store: Store, project_ref: str, mapping: dict[str, int], predictions: dict[str, PredictionRow]
) -> None:
    """Record pushes, each with the model version of the prediction that went with it."""
    by_version: dict[str | None, dict[str, int]] = {}
    for tid, ext in mapping.items():
        pred = predictions.get(tid)
        by_version.setdefault(pred.model_version if pred else None, {})[tid] = ext
    for version, part in by_version.items():
        store.record_pushes(project_ref, part, version)


class _Clock:
    """Adds the seconds spent in ``with clock(stage):`` blocks to ``timings[stage]``."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - started, 3)


def _with_codes(code_candidates: CodeCandidates | None, items: Sequence[tuple[Any, PredictionIn | None]]) -> list[PredictionIn | None]:
    """Predictions with code candidates attached to their spans (unchanged without ``code_candidates``).

    A function with a ``many`` attribute (``[(text, regions)] -> [regions]``, see
    :func:`cliniloop.services.loop.coding.span_code_candidates`) ranks the whole batch in one call.
    """
    if code_candidates is None:
        return [p for _, p in items]
    todo = [(i, task.data.get("text", ""), p) for i, (task, p) in enumerate(items) if p is not None and p.regions]
    many = getattr(code_candidates, "many", None)
    if many is not None:
        coded = many([(text, p.regions) for _, text, p in todo])
    else:
        coded = [code_candidates(text, p.regions) for _, text, p in todo]
    out = [p for _, p in items]
    for (i, _, p), regions in zip(todo, coded, strict=True):
        out[i] = p.model_copy(update={"regions": regions})
    return out


def text_project_config() -> str:
    """The label config of the clinical-text project, from the bundled label schema."""
    return text_label_config(load_label_schema("clinical_text"), phi_schema=load_label_schema("phi"))


def ensure_text_project(client: LabelStudioClient, title: str) -> int:
    """Create or update the clinical-text project; return its id."""
    return client.ensure_project(title, text_project_config())


def push_tasks(
    store: Store,
    client: LabelStudioClient,
    project_id: int,
    task_ids: Sequence[str],
    batch_size: int = 500,
    progress: Progress | None = None,
    code_candidates: CodeCandidates | None = None,
    *,
    model_name: str = TEXT_MODEL_NAME,
    label_config: str | None = None,
    task_data: Callable[[Any], dict[str, Any]] | None = None,
    gold_share: float = 0.0,
    overlap: tuple[int, int] | None = None,
) -> PushReport:
    """Import tasks with their newest predictions into a Label Studio project.

    With ``code_candidates`` (see :func:`cliniloop.services.loop.coding.span_code_candidates`) every span
    sent carries its ranked ICD-10-CM / SNOMED CT candidates, shown in the span's Info panel.

    Other modalities pass their ``model_name``, ``label_config`` (default: the text project's)
    and ``task_data`` (stored task -> the data Label Studio shows, e.g. an ECG window's samples;
    default: the stored data without the de-identification record).

    Tasks already in the project get only a newer model version's prediction. Every
    prediction is validated against the project's label config before anything is sent.
    After the push the project's ``model_version`` is set to the pushed version, so the
    annotator queue (uncertainty sampling) orders tasks by our scores.

    ``gold_share`` (0-1) of the batch is made of gold-check tasks not yet in the project
    (:func:`cliniloop.services.quality.gold.mix_gold`). ``overlap`` = ``(annotators, percentage)`` sets
    the project's overlap first (Label Studio's ``maximum_annotations`` and
    ``overlap_cohort_percentage``).

    Raises
    ------
    cliniloop.connectors.label_studio.client.LabelStudioUnavailable
        If the server cannot be reached; nothing is recorded as pushed then.
    cliniloop.services.loop.deid.NotDeidentifiedError
        If a text task carries no de-identification record; nothing is sent then.
    """
    project_ref = client.project_ref(project_id)
    report = PushReport(project_id=project_id, project_ref=project_ref)
    if overlap is not None:
        client.set_overlap(project_id, *overlap)
    n_chosen = len(task_ids)
    task_ids = mix_gold(store, project_ref, task_ids, gold_share)
    report.gold_added = len(task_ids) - n_chosen
    in_ls = client.existing_task_ids(project_id)
    recorded = store.pushed(project_ref)
    predictions = store.latest_predictions(model_name, task_ids)
    tasks = {t.id: t for t in store.list_tasks(ids=task_ids)}
    missing = [tid for tid in task_ids if tid not in tasks]
    if missing:
        raise KeyError(f"{len(missing)} task(s) not in the store, e.g. {missing[0]}")
    require_deidentified(list(tasks.values()))

    # Tasks Label Studio holds but the store did not record (an interrupted push): adopt them.
    # They were imported with the prediction that is newest now, so record that version.
    adopt = [tid for tid in task_ids if tid in in_ls and recorded.get(tid) != in_ls[tid]]
    _record_by_version(store, project_ref, {tid: in_ls[tid] for tid in adopt}, predictions)

    clock = _Clock(report.timings)
    new_items: list[tuple[str, dict[str, Any], PredictionIn | None]] = []
    refresh: list[tuple[str, PredictionIn]] = []
    versions = store.pushed_versions(project_ref)
    with clock("prepare"):
        for tid in task_ids:
            pred = predictions.get(tid)
            pin = prediction_from_row(pred) if pred else None
            if tid in in_ls:
                report.already_present.append(tid)
                if pin and versions.get(tid) != pin.model_version:
                    refresh.append((tid, pin))
                continue
            try:
                data = task_data(tasks[tid]) if task_data is not None else shareable_data(tasks[tid].data)
            except Exception as err:  # noqa: BLE001 - one bad item is skipped and reported, the rest goes
                report.failed.append((tid, f"{type(err).__name__}: {str(err)[:200]}"))
                continue
            new_items.append((tid, data, pin))

    # validated before anything is sent (code candidates added later only add display text)
    with clock("validate"):
        results = {tid: regions_to_result(p.regions) for tid, _, p in new_items if p is not None}
        results |= {tid: regions_to_result(p.regions) for tid, p in refresh}
        client.validate(label_config or text_project_config(), results)

    # code candidates are computed per batch, just before its import (in one call per batch
    # when the function offers ``many``), so the first tasks reach Label Studio at once
    for i in range(0, len(new_items), batch_size):
        batch = new_items[i : i + batch_size]
        with clock("codes"):
            preds = _with_codes(code_candidates, [(tasks[tid], p) for tid, _, p in batch])
        payloads = [task_payload(tid, data, pin) for (tid, data, _), pin in zip(batch, preds, strict=True)]
        with clock("import"):
            ids = client.import_tasks(project_id, payloads)
        mapping = dict(zip([tid for tid, _, _ in batch], ids, strict=True))
        with clock("record"):
            _record_by_version(store, project_ref, mapping, predictions)
        report.created.extend(mapping)
        if progress:
            progress(len(batch))

    for i in range(0, len(refresh), batch_size):
        batch_r = refresh[i : i + batch_size]
        with clock("codes"):
            preds = _with_codes(code_candidates, [(tasks[tid], p) for tid, p in batch_r])
        with clock("import"):
            client.import_predictions(
                project_id,
                [{"task": in_ls[tid], **prediction_payload(p)} for (tid, _), p in zip(batch_r, preds, strict=True) if p is not None],
            )
        with clock("record"):
            _record_by_version(store, project_ref, {tid: in_ls[tid] for tid, _ in batch_r}, predictions)
        report.predictions_added.extend(tid for tid, _ in batch_r)
        if progress:
            progress(len(batch_r))

    pushed = [predictions[t] for t in task_ids if t in predictions]
    if pushed:
        # the newest prediction's version: the queue orders by the scores of that version
        report.model_version = max(pushed, key=lambda p: p.id).model_version
        client.set_model_version(project_id, report.model_version)
    store.audit(
        "cliniloop",
        "push",
        "project",
        project_ref,
        created=len(report.created),
        already_present=len(report.already_present),
        predictions_added=len(report.predictions_added),
        gold_added=report.gold_added,
        model_version=report.model_version,
    )
    return report
