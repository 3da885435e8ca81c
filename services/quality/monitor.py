"""Pre-annotation monitor: what annotators did with each model version's suggestions, per label.

Every annotation that started from a suggestion (its ``model_version``, else the version pushed
with the task) is compared with that version's prediction for the task:

- **accepted**: a suggested region the annotation kept unchanged (same place, label and choices);
- **edited**: a suggested region the annotation kept at an overlapping place but changed
  (boundaries, label or choices; counted under the suggested label);
- **deleted**: a suggested region with nothing at its place in the annotation;
- **missed**: a region the annotator added where nothing was suggested (under its own label).

A version whose suggestions are accepted almost always, with annotations submitted unchanged,
may be rubber-stamped; one whose suggestions are mostly edited or deleted misleads annotators.
Both show as flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cliniloop.models.quality.agreement import match_regions
from cliniloop.services.core.store import Store

OUTCOMES = ("accepted", "edited", "deleted", "missed")
#: Acceptance above this (with ``MIN_SUGGESTIONS``) flags possible rubber-stamping.
RUBBER_STAMP_ACCEPTANCE = 0.98
#: Acceptance below this (with ``MIN_SUGGESTIONS``) flags suggestions that mislead.
MISLEADING_ACCEPTANCE = 0.5
MIN_SUGGESTIONS = 20


@dataclass
class SuggestionCounts:
    """Outcomes of one model version's suggestions for one label (``label="all"``: every label)."""

    model_version: str
    label: str
    accepted: int = 0
    edited: int = 0
    deleted: int = 0
    missed: int = 0

    @property
    def suggested(self) -> int:
        """Suggested regions the annotators saw."""
        return self.accepted + self.edited + self.deleted

    @property
    def acceptance(self) -> float | None:
        """Share of suggestions accepted unchanged (``None`` without suggestions)."""
        return self.accepted / self.suggested if self.suggested else None

    def to_json(self) -> dict[str, Any]:
        """The counts with ``suggested`` and ``acceptance``."""
        return {**asdict(self), "suggested": self.suggested, "acceptance": self.acceptance}


@dataclass
class VersionSummary:
    """Per model version: annotations compared, those submitted without any change, flags."""

    model_version: str
    annotations: int = 0
    unchanged_annotations: int = 0
    total: SuggestionCounts | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class SuggestionReport:
    """Counts per (model version, label) and a summary per model version."""

    counts: dict[tuple[str, str], SuggestionCounts] = field(default_factory=dict)
    versions: dict[str, VersionSummary] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "versions": [
                {
                    "model_version": v.model_version, "annotations": v.annotations,
                    "unchanged_annotations": v.unchanged_annotations,
                    **{k: val for k, val in (v.total.to_json() if v.total else {}).items() if k not in ("model_version", "label")},
                    "flags": v.flags,
                }
                for v in self.versions.values()
            ],
            "labels": [c.to_json() for c in self.counts.values()],
        }  # fmt: skip


def _same_choices(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = {"assertion", "channels"}
    return all(a.get("attributes", {}).get(k) == b.get("attributes", {}).get(k) for k in keys)


def compare_suggestion(suggested: Sequence[dict], annotated: Sequence[dict]) -> list[tuple[str, str]]:
    """``(outcome, label)`` for each suggested region and each region the annotator added."""
    out: list[tuple[str, str]] = []
    exact = [m for m in match_regions(suggested, annotated, "exact") if _same_choices(suggested[m.a], annotated[m.b])]
    # "exact" for spans is the very same characters; for other kinds it allows a little movement
    # (IoU >= 0.5, 150 ms): only identical geometry counts as unchanged
    kept = [m for m in exact if _same_geometry(suggested[m.a], annotated[m.b])]
    out += [("accepted", suggested[m.a]["label"]) for m in kept]
    used_a, used_b = {m.a for m in kept}, {m.b for m in kept}
    rest_a = [i for i in range(len(suggested)) if i not in used_a]
    rest_b = [j for j in range(len(annotated)) if j not in used_b]
    moved = match_regions([suggested[i] for i in rest_a], [annotated[j] for j in rest_b], "position")
    out += [("edited", suggested[rest_a[m.a]]["label"]) for m in moved]
    moved_a, moved_b = {rest_a[m.a] for m in moved}, {rest_b[m.b] for m in moved}
    out += [("deleted", suggested[i]["label"]) for i in rest_a if i not in moved_a]
    out += [("missed", annotated[j]["label"]) for j in rest_b if j not in moved_b]
    return out


_GEOMETRY = {"span": ("start", "end"), "instant": ("time_s",), "range": ("start_s", "end_s"),
             "rect": ("x", "y", "width", "height"), "mask": ("counts",)}  # fmt: skip


def _same_geometry(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = _GEOMETRY.get(str(a.get("kind")), ())
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, float | int) and isinstance(vb, float | int):
            if abs(float(va) - float(vb)) > 1e-6:
                return False
        elif va != vb:
            return False
    return True


def suggestion_report(store: Store) -> SuggestionReport:
    """Outcomes of every model version's suggestions (see the module docstring)."""
    annotations = store.annotations()
    task_ids = {a.task_id for a in annotations}
    preds: dict[tuple[str, str], Any] = {(p.task_id, p.model_version): p for p in store.predictions(task_ids)}
    pushed: dict[str, str] = {}
    for row in store.push_rows(task_ids):
        if row.model_version:
            pushed[row.task_id] = row.model_version
    report = SuggestionReport()
    for ann in annotations:
        version = ann.model_version or pushed.get(ann.task_id)
        pred = preds.get((ann.task_id, version)) if version else None
        if pred is None:
            continue
        outcomes = compare_suggestion(list(pred.regions), list(ann.regions))
        summary = report.versions.setdefault(version, VersionSummary(version, total=SuggestionCounts(version, "all")))  # type: ignore[arg-type]
        summary.annotations += 1
        summary.unchanged_annotations += all(o == "accepted" for o, _ in outcomes)
        for outcome, label in outcomes:
            counts = report.counts.setdefault((version, label), SuggestionCounts(version, label))  # type: ignore[arg-type]
            setattr(counts, outcome, getattr(counts, outcome) + 1)
            setattr(summary.total, outcome, getattr(summary.total, outcome) + 1)
    for summary in report.versions.values():
        total = summary.total
        if total is None or total.suggested < MIN_SUGGESTIONS or total.acceptance is None:
            continue
        if total.acceptance > RUBBER_STAMP_ACCEPTANCE:
            summary.flags.append(f"possible rubber-stamping: {total.acceptance:.0%} of {total.suggested} suggestions accepted unchanged")
        elif total.acceptance < MISLEADING_ACCEPTANCE:
            summary.flags.append(f"suggestions mislead: only {total.acceptance:.0%} of {total.suggested} accepted unchanged")
    report.counts = dict(sorted(report.counts.items()))
    return report
