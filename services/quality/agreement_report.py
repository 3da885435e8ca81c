"""Inter-annotator agreement over the store: per modality, per label and per annotator pair.

Tasks count when at least two annotators labelled them (each annotator's newest annotation).
The figures per modality (rows of :class:`AgreementRow`):

- ``text``: span F1, exact and overlapping (per entity label); Cohen's kappa of the assertion
  on spans both marked exactly (per label and overall); Fleiss' kappa of the assertion on spans
  every annotator marked, when three or more annotators labelled a task;
- ``ecg``: beat F1 within 150 ms whatever the class (``beat_f1``), Cohen's kappa of the class
  of matched beats, and per-class F1 (same class within 150 ms);
- ``eeg``: event F1 (same label, overlapping) per label, and the mean onset difference (s) of
  matched events;
- ``image``: F1 of boxes and masks matched at IoU >= 0.5 per label, with mean IoU and Dice;
- ``codes``: Cohen's / Fleiss' kappa of coders' verdicts on the same mention (per system).

A label is *low* when its F1 or kappa is below ``CLINILOOP_LOW_AGREEMENT_THRESHOLD``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from cliniloop.models.quality.agreement import (
    beat_class_pairs,
    cohen_kappa,
    fleiss_kappa,
    label_agreement,
    match_regions,
)
from cliniloop.services.core.store import Store
from cliniloop.services.quality.labels import annotations_by_task, per_annotator

#: Measures that are agreement scores in [-1, 1] (low ones are listed); others are descriptive.
SCORE_MEASURES = ("span_f1_exact", "span_f1_overlap", "assertion_kappa", "assertion_fleiss_kappa", "beat_f1",
                  "beat_class_kappa", "beat_class_f1", "event_f1", "region_f1", "verdict_kappa", "verdict_fleiss_kappa")  # fmt: skip
ALL_PAIRS = "all"


@dataclass(frozen=True)
class AgreementRow:
    """One figure: ``measure`` of ``label`` between ``annotators`` (``"a | b"`` or ``"all"``) over ``items``.

    ``items`` counts what the figure is computed on: regions of both annotators for F1, rated
    pairs for kappa, matched events for onset differences.
    """

    modality: str
    label: str
    annotators: str
    measure: str
    value: float | None
    items: int
    tasks: int


@dataclass
class AgreementReport:
    """All rows, the tasks labelled by two or more annotators per modality, and the low labels."""

    rows: list[AgreementRow] = field(default_factory=list)
    multi_annotated: dict[str, int] = field(default_factory=dict)
    threshold: float = 0.6

    def low(self) -> list[AgreementRow]:
        """Rows of a score measure under the threshold (labels to look at), lowest first."""
        out = [r for r in self.rows if r.measure in SCORE_MEASURES and r.value is not None and r.value < self.threshold]
        return sorted(out, key=lambda r: (r.value, r.modality, r.label))  # type: ignore[arg-type, return-value]

    def value(self, modality: str, measure: str, label: str = ALL_PAIRS, annotators: str = ALL_PAIRS) -> float | None:
        """The value of one row (``None`` when there is no such row)."""
        for r in self.rows:
            if (r.modality, r.measure, r.label, r.annotators) == (modality, measure, label, annotators):
                return r.value
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: rows, tasks per modality, threshold and the low rows."""
        return {
            "threshold": self.threshold,
            "multi_annotated_tasks": self.multi_annotated,
            "rows": [asdict(r) for r in self.rows],
            "low": [asdict(r) for r in self.low()],
        }


def _pair_name(a: str, b: str) -> str:
    return f"{a} | {b}"


class _Counts:
    """Sums of matches and region counts per label, for F1 over many tasks."""

    def __init__(self) -> None:
        self.matched: dict[str, int] = {}
        self.total: dict[str, int] = {}
        self.quality: dict[str, list[float]] = {}
        self.onsets: dict[str, list[float]] = {}

    def add(self, a: Sequence[dict], b: Sequence[dict], mode: str, **kw: Any) -> None:
        for label, la in label_agreement(a, b, mode, **kw).items():
            self.matched[label] = self.matched.get(label, 0) + la.matched
            self.total[label] = self.total.get(label, 0) + la.n_a + la.n_b
        for m in match_regions(a, b, mode, **kw):
            self.quality.setdefault(m.label, []).append(m.quality)
            if m.onset_diff_s is not None:
                self.onsets.setdefault(m.label, []).append(m.onset_diff_s)

    def f1(self, label: str | None = None) -> tuple[float | None, int]:
        matched = sum(self.matched.values()) if label is None else self.matched.get(label, 0)
        total = sum(self.total.values()) if label is None else self.total.get(label, 0)
        return (2 * matched / total if total else None), total


def _kinds(regions: Sequence[dict], kinds: tuple[str, ...]) -> list[dict]:
    return [r for r in regions if r.get("kind") in kinds]


def _pair_rows(modality: str, pair: str, pairs: list[tuple[list[dict], list[dict]]]) -> list[AgreementRow]:
    """Rows of one annotator pair over the tasks both labelled."""
    n = len(pairs)
    rows: list[AgreementRow] = []

    def f1_rows(counts: _Counts, measure: str) -> None:
        value, items = counts.f1()
        rows.append(AgreementRow(modality, ALL_PAIRS, pair, measure, value, items, n))
        for label in sorted(counts.total):
            value, items = counts.f1(label)
            rows.append(AgreementRow(modality, label, pair, measure, value, items, n))

    if modality == "text":
        exact, overlap = _Counts(), _Counts()
        assertion: dict[str, list[tuple[str, str]]] = {}
        for a, b in pairs:
            a, b = _kinds(a, ("span",)), _kinds(b, ("span",))
            exact.add(a, b, "exact")
            overlap.add(a, b, "overlap")
            for m in match_regions(a, b, "exact"):
                assertion.setdefault(m.label, []).append(
                    (str(a[m.a].get("attributes", {}).get("assertion", "")), str(b[m.b].get("attributes", {}).get("assertion", "")))
                )
        f1_rows(exact, "span_f1_exact")
        f1_rows(overlap, "span_f1_overlap")
        every = [p for ps in assertion.values() for p in ps]
        if every:
            rows.append(AgreementRow(modality, ALL_PAIRS, pair, "assertion_kappa", cohen_kappa(*zip(*every)), len(every), n))  # type: ignore[arg-type]
        for label, ps in sorted(assertion.items()):
            rows.append(AgreementRow(modality, label, pair, "assertion_kappa", cohen_kappa(*zip(*ps)), len(ps), n))  # type: ignore[arg-type]
    elif modality == "ecg":
        position, exact = _Counts(), _Counts()
        classes: list[tuple[str, str]] = []
        for a, b in pairs:
            a, b = _kinds(a, ("instant",)), _kinds(b, ("instant",))
            matched = len(match_regions(a, b, "position"))
            position.matched["beat"] = position.matched.get("beat", 0) + matched
            position.total["beat"] = position.total.get("beat", 0) + len(a) + len(b)
            for m in match_regions(a, b, "position"):
                position.onsets.setdefault("beat", []).append(m.onset_diff_s or 0.0)
            exact.add(a, b, "exact")
            classes += beat_class_pairs(a, b)
        value, items = position.f1()
        rows.append(AgreementRow(modality, ALL_PAIRS, pair, "beat_f1", value, items, n))
        onsets = position.onsets.get("beat", [])
        if onsets:
            rows.append(AgreementRow(modality, ALL_PAIRS, pair, "beat_time_diff_s", sum(onsets) / len(onsets), len(onsets), n))
        if classes:
            rows.append(AgreementRow(modality, ALL_PAIRS, pair, "beat_class_kappa", cohen_kappa(*zip(*classes)), len(classes), n))  # type: ignore[arg-type]
        for label in sorted(exact.total):
            value, items = exact.f1(label)
            rows.append(AgreementRow(modality, label, pair, "beat_class_f1", value, items, n))
    elif modality == "eeg":
        events = _Counts()
        for a, b in pairs:
            events.add(_kinds(a, ("range",)), _kinds(b, ("range",)), "overlap")
        f1_rows(events, "event_f1")
        for label, diffs in sorted(events.onsets.items()):
            rows.append(AgreementRow(modality, label, pair, "onset_diff_s", sum(diffs) / len(diffs), len(diffs), n))
        every = [d for ds in events.onsets.values() for d in ds]
        if every:
            rows.append(AgreementRow(modality, ALL_PAIRS, pair, "onset_diff_s", sum(every) / len(every), len(every), n))
    elif modality == "image":
        regions = _Counts()
        for a, b in pairs:
            regions.add(_kinds(a, ("rect", "mask")), _kinds(b, ("rect", "mask")), "exact")
        f1_rows(regions, "region_f1")
        for label, ious in sorted(regions.quality.items()):
            rows.append(AgreementRow(modality, label, pair, "iou", sum(ious) / len(ious), len(ious), n))
            dice = [2 * i / (1 + i) for i in ious]
            rows.append(AgreementRow(modality, label, pair, "dice", sum(dice) / len(dice), len(dice), n))
    return rows


def _fleiss_text(tasks: list[dict[str, list[dict]]]) -> tuple[float | None, int]:
    """Fleiss' kappa of the assertion on spans every annotator of a task (3 or more) marked exactly."""
    ratings: list[list[str]] = []
    for by_annotator in tasks:
        if len(by_annotator) < 3:
            continue
        versions = [_kinds(r, ("span",)) for r in by_annotator.values()]
        keyed = [{(s["start"], s["end"], s["label"]): str(s.get("attributes", {}).get("assertion", "")) for s in v} for v in versions]
        common = set.intersection(*(set(k) for k in keyed))
        for key in sorted(common):
            ratings.append([k[key] for k in keyed])
    by_size: dict[int, list[list[str]]] = {}
    for r in ratings:
        by_size.setdefault(len(r), []).append(r)
    if not by_size:
        return None, 0
    size, biggest = max(by_size.items(), key=lambda kv: (len(kv[1]), kv[0]))
    return fleiss_kappa(biggest), len(biggest)


def _verdict_rows(store: Store) -> list[AgreementRow]:
    """Kappa of coders' verdicts on the same mention of the same task, per code system."""
    rows: list[AgreementRow] = []
    groups: dict[tuple[str, str, str], dict[str, str]] = {}
    for m in store.code_mappings():
        if m.task_id is None:
            continue
        verdict = m.verdict if m.verdict != "accept" else f"accept:{m.code}"
        groups.setdefault((m.system, m.task_id, m.normalized_mention), {})[m.coder] = verdict
    for system in sorted({k[0] for k in groups}):
        items = [v for k, v in groups.items() if k[0] == system and len(v) >= 2]
        coders = sorted({c for v in items for c in v})
        for a, b in combinations(coders, 2):
            pairs = [(v[a], v[b]) for v in items if a in v and b in v]
            if pairs:
                rows.append(AgreementRow("codes", system, _pair_name(a, b), "verdict_kappa", cohen_kappa(*zip(*pairs)), len(pairs), len(pairs)))  # type: ignore[arg-type]
        three = [list(v.values()) for v in items if len(v) >= 3]
        if three:
            size = max({len(r) for r in three}, key=lambda k: sum(len(r) == k for r in three))
            same = [r for r in three if len(r) == size]
            rows.append(AgreementRow("codes", system, ALL_PAIRS, "verdict_fleiss_kappa", fleiss_kappa(same), len(same), len(same)))
    return rows


def agreement_report(store: Store, modality: str | None = None, threshold: float | None = None) -> AgreementReport:
    """Agreement figures of every modality (or one) from the store's annotations (see the module docstring)."""
    if threshold is None:
        from cliniloop.services.core.settings import get_settings

        threshold = get_settings().low_agreement_threshold
    report = AgreementReport(threshold=threshold)
    modality_of = {t.id: t.modality for t in store.list_tasks(modality if modality != "codes" else None)}
    by_task = annotations_by_task(store, modality_of)
    per_modality: dict[str, list[dict[str, list[dict]]]] = {}
    for task_id, anns in by_task.items():
        newest = per_annotator(anns)
        if len(newest) >= 2:
            per_modality.setdefault(modality_of[task_id], []).append({k: list(v.regions) for k, v in sorted(newest.items())})
    for mod, tasks in sorted(per_modality.items()):
        if modality not in (None, mod):
            continue
        report.multi_annotated[mod] = len(tasks)
        annotators = sorted({a for t in tasks for a in t})
        pair_rows: dict[str, list[AgreementRow]] = {}
        all_pairs: list[tuple[list[dict], list[dict]]] = []
        for a, b in combinations(annotators, 2):
            pairs = [(t[a], t[b]) for t in tasks if a in t and b in t]
            if pairs:
                pair_rows[_pair_name(a, b)] = _pair_rows(mod, _pair_name(a, b), pairs)
                all_pairs += pairs
        report.rows += _pair_rows(mod, ALL_PAIRS, all_pairs)  # pooled over every pair
        for rows in pair_rows.values():
            report.rows += rows
        if mod == "text":
            value, items = _fleiss_text(tasks)
            if items:
                report.rows.append(AgreementRow(mod, ALL_PAIRS, ALL_PAIRS, "assertion_fleiss_kappa", value, items, len(tasks)))
    if modality in (None, "codes"):
        report.rows += _verdict_rows(store)
    return report
