"""Corrections close the hole: identifiers annotators marked as missed leave the task text.

After a pull has stored ``phi`` marks (table ``phi_corrections``, offsets and type only),
:func:`apply_phi_corrections` replaces each not-yet-applied mark of a task by a surrogate:

1. **Surrogate**: drawn by the task's patient generator, ``SurrogateGenerator(secret,
   "ref:" + patient_ref)`` (:func:`cliniloop.services.loop.deid.patient_surrogates`), the one the gate
   itself uses, so the same string of the same patient gets the same surrogate here, in the
   note's other identifiers and in later notes. Parts of a mark lying on a surrogate already
   are left alone (:func:`cliniloop.models.text.deid.corrections.plan_corrections`).
2. **Store**, in one transaction: the task text; the deid record's offset map (a new
   replacement per corrected span, later ones shifted) and counts; every region of the task's
   annotations, predictions, gold answer and adjudication moved (after the span: shifted; over
   it: snapped to the surrogate's bounds); the task's correction rows moved the same way and the
   applied ones marked ``applied_at`` (so re-running does nothing twice); the corrected strings'
   deny-list entries; one ``phi_corrected`` audit event (counts only).
3. **Label Studio** (:func:`sync_phi_corrections`): every annotation's and prediction's
   result items moved (their ``value.text`` too, so the clear identifier leaves the ``phi``
   item as well), then the task's ``data.text`` replaced; the rows are marked ``synced_at``.
   The store goes first and keeps the edit map (offsets only) under
   ``data["deid"]["pending_label_studio"]`` until Label Studio has it, so a failed or
   interrupted sync is finished by the next pull (which syncs before it reconciles, and holds
   back tasks whose Label Studio copy is still on the old text).

Nothing here writes the identifier anywhere: it exists in memory while the surrogate and the
deny-list digest are computed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.text_edits import shift_text_result
from cliniloop.models.text.deid.corrections import compose, plan_corrections, remap_span
from cliniloop.models.text.deid.deny_list import DenyEntry, deny_key
from cliniloop.models.text.deid.offsets import OffsetMap, apply_replacements
from cliniloop.models.text.deid.types import PhiSpan
from cliniloop.services.core.store import Store
from cliniloop.services.loop.deid import ACTOR, DEID_KEY, patient_surrogates

log = logging.getLogger(__name__)

#: Key of the deid record holding the edit map not yet applied in Label Studio.
PENDING_KEY = "pending_label_studio"


@dataclass
class CorrectionReport:
    """What applying and syncing corrections did."""

    #: Tasks whose text changed in the store.
    tasks: int = 0
    #: Spans replaced per identifier type.
    replaced: dict[str, int] = field(default_factory=dict)
    #: New deny-list entries.
    deny_added: int = 0
    #: Tasks whose Label Studio copy was brought to the corrected text.
    synced: int = 0
    #: Label Studio annotations and predictions whose regions moved.
    ls_annotations: int = 0
    ls_predictions: int = 0
    #: Tasks that could not be synced (their Label Studio text is neither the old nor the new one).
    sync_failed: list[str] = field(default_factory=list)
    #: Tasks with marks but no de-identified text record (left unapplied).
    skipped: list[str] = field(default_factory=list)


def _shift_regions(regions: list[Any], edits: OffsetMap, new_text: str) -> list[Any]:
    out = []
    for region in regions:
        if isinstance(region, dict) and isinstance(region.get("start"), int) and isinstance(region.get("end"), int):
            start, end = remap_span(edits, region["start"], region["end"])
            if (start, end) != (region["start"], region["end"]):
                region = {**region, "start": start, "end": end}
                if "text" in region:
                    region["text"] = new_text[start:end]
        out.append(region)
    return out


def apply_phi_corrections(
    store: Store,
    secret: bytes,
    scope: str,
    *,
    source_prefix: str = "",
    task_ids: Iterable[str] | None = None,
    report: CorrectionReport | None = None,
) -> CorrectionReport:
    """Replace the not-yet-applied marks of every task (see the module docstring).

    Parameters
    ----------
    store : Store
        The store.
    secret : bytes
        The de-identification key (:func:`cliniloop.services.loop.deid.deid_secret`).
    scope : str
        Deny-list scope the corrected strings join: the Label Studio text project's title.
    source_prefix : str
        Only marks of annotations whose source id starts with it (``"<project id>:"``).
    task_ids : iterable of str, optional
        Only these tasks.
    """
    report = report or CorrectionReport()
    wanted = set(task_ids) if task_ids is not None else None
    key = deny_key(secret)
    for task_id in store.phi_correction_task_ids(unapplied=True, prefix=source_prefix):
        if wanted is not None and task_id not in wanted:
            continue
        task = store.get_task(task_id)
        data = dict(task.data or {}) if task is not None else {}
        record = data.get(DEID_KEY)
        if task is None or not isinstance(data.get("text"), str) or not isinstance(record, dict) or not record.get("patient_ref"):
            report.skipped.append(task_id)
            continue
        rows = [
            r
            for r in store.phi_corrections(task_id)
            if r.applied_at is None and r.source_annotation_id.startswith(source_prefix)
        ]
        text = data["text"]
        marks = [(r.start, r.end, r.type) for r in rows if 0 <= r.start < r.end <= len(text)]
        edit = plan_corrections(
            text, OffsetMap.from_json(record.get("offsets") or []), marks, patient_surrogates(secret, record["patient_ref"])
        )
        deny = [e for s in edit.spans if (e := DenyEntry.from_text(key, text[s.start : s.end], s.type)) is not None]
        counts: dict[str, int] = {}
        for span in edit.spans:
            counts[span.type] = counts.get(span.type, 0) + 1
        new_record = {**record, "offsets": edit.offsets.to_json()}
        if counts:
            total = dict(record.get("counts") or {})
            for phi_type, n in counts.items():
                total[phi_type] = total.get(phi_type, 0) + n
            new_record["counts"] = {k: total[k] for k in sorted(total)}
            new_record["corrected"] = int(record.get("corrected") or 0) + len(edit.spans)
            pending = record.get(PENDING_KEY)
            merged = compose(OffsetMap.from_json(pending), edit.edits) if pending else edit.edits
            new_record[PENDING_KEY] = merged.to_json()
        edits, new_text = edit.edits, edit.text
        added = store.apply_text_correction(
            task_id,
            {**data, "text": new_text, DEID_KEY: new_record},
            lambda regions: _shift_regions(regions, edits, new_text),
            lambda start, end: remap_span(edits, start, end),
            [r.id for r in rows],
            deny=(scope, [(e.digest, e.type, e.tokens) for e in deny]),
            audit=(
                ACTOR,
                "phi_corrected",
                {"counts": counts, "marks": len(rows), "deny_list_added": len(deny), "detector": record.get("detector")},
            ),
        )
        report.deny_added += added
        if counts:
            report.tasks += 1
            for phi_type, n in counts.items():
                report.replaced[phi_type] = report.replaced.get(phi_type, 0) + n
    return report


def _rebuild(ls_text: str, pending: OffsetMap, store_text: str) -> str:
    """``ls_text`` (the old text) with the pending replacements' surrogates, taken from the store text."""
    spans = [PhiSpan(r.orig_start, r.orig_end, r.type) for r in pending.replacements]
    if spans and spans[-1].end > len(ls_text):
        return ""
    surrogates = [store_text[r.deid_start : r.deid_end] for r in pending.replacements]
    return apply_replacements(ls_text, spans, surrogates)[0]


def sync_phi_corrections(
    store: Store,
    client: LabelStudioClient,
    project_id: int,
    *,
    task_ids: Iterable[str] | None = None,
    report: CorrectionReport | None = None,
) -> CorrectionReport:
    """Bring Label Studio's copies of corrected tasks to the store's text (see the module docstring)."""
    report = report or CorrectionReport()
    wanted = set(task_ids) if task_ids is not None else None
    todo = [
        t
        for t in store.phi_correction_task_ids(unsynced=True, prefix=f"{project_id}:")
        if wanted is None or t in wanted
    ]
    if not todo:
        return report
    ls_ids = store.pushed(client.project_ref(project_id))
    if any(t not in ls_ids for t in todo):
        ls_ids = {**client.existing_task_ids(project_id), **ls_ids}
    for task_id in todo:
        task = store.get_task(task_id)
        if task is None:
            continue
        data = dict(task.data or {})
        record = dict(data.get(DEID_KEY) or {})
        pending = record.pop(PENDING_KEY, None)
        ls_id = ls_ids.get(task_id)
        if pending and ls_id is not None:
            ls_data = client.task_data(ls_id, project_id)
            ls_text, store_text = ls_data.get("text"), data["text"]
            if ls_text != store_text:
                edits = OffsetMap.from_json(pending)
                if not isinstance(ls_text, str) or _rebuild(ls_text, edits, store_text) != store_text:
                    log.warning("task %s: its Label Studio text is neither the old nor the corrected one; not synced", task_id)
                    report.sync_failed.append(task_id)
                    continue

                def remap(start: int, end: int, edits: OffsetMap = edits) -> tuple[int, int]:
                    return remap_span(edits, start, end)

                for ann in client.task_annotations(ls_id):
                    moved, changed = shift_text_result(ann.get("result") or [], remap, ls_text, store_text)
                    if changed:
                        client.update_annotation(int(ann["id"]), moved)
                        report.ls_annotations += 1
                for pred in client.task_predictions(ls_id):
                    moved, changed = shift_text_result(pred.get("result") or [], remap, ls_text, store_text)
                    if changed:
                        client.update_prediction(int(pred["id"]), moved)
                        report.ls_predictions += 1
                client.update_task_data(ls_id, {**ls_data, "text": store_text})
                report.synced += 1
        store.mark_phi_corrections_synced(task_id, {**data, DEID_KEY: record})
    return report


def correct_project(
    store: Store, client: LabelStudioClient, project_id: int, secret: bytes, scope: str | None = None
) -> CorrectionReport:
    """Apply this project's new marks and bring Label Studio up to date (pull and CLI use this)."""
    report = CorrectionReport()
    sync_phi_corrections(store, client, project_id, report=report)
    prefix = f"{project_id}:"
    if store.phi_correction_task_ids(unapplied=True, prefix=prefix):
        apply_phi_corrections(
            store, secret, scope if scope is not None else client.project_title(project_id), source_prefix=prefix, report=report
        )
        sync_phi_corrections(store, client, project_id, report=report)
    return report
