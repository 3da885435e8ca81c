"""What annotators did with the suggestions (services/quality/monitor.py)."""

from __future__ import annotations

import pytest

from cliniloop.services.core.schemas import AnnotationIn, PredictionIn, TaskIn, TextSpan, TimeInstant, regions_to_json
from cliniloop.services.core.store import Store
from cliniloop.services.quality.monitor import MIN_SUGGESTIONS, compare_suggestion, suggestion_report

REF = "http://ls:8080/projects/1"


def _span(start: int, end: int, label: str = "Problem", assertion: str | None = None) -> TextSpan:
    attrs = {"assertion": assertion} if assertion else {}
    return TextSpan(start=start, end=end, text="x" * (end - start), label=label, attributes=attrs)


def _json(*regions) -> list[dict]:
    return regions_to_json(list(regions))


# suggested: s1 kept exactly, s2 boundary moved, s3 removed, s4 assertion changed; a5 added
SUGGESTED = [_span(0, 10, assertion="present"), _span(20, 30), _span(40, 50, "Medication"), _span(60, 70, assertion="present")]
ANNOTATED = [_span(0, 10, assertion="present"), _span(20, 28), _span(60, 70, assertion="negated"), _span(80, 90, "Medication")]


def test_compare_suggestion_hand_made() -> None:
    out = compare_suggestion(_json(*SUGGESTED), _json(*ANNOTATED))
    assert sorted(out) == sorted([
        ("accepted", "Problem"),  # s1
        ("edited", "Problem"),  # s2: (20,30) -> (20,28)
        ("edited", "Problem"),  # s4: present -> negated
        ("deleted", "Medication"),  # s3
        ("missed", "Medication"),  # (80,90) added
    ])  # fmt: skip


def test_relabel_in_place_counts_as_edited_under_the_suggested_label() -> None:
    assert compare_suggestion(_json(_span(0, 10)), _json(_span(0, 10, "Medication"))) == [("edited", "Problem")]


def test_moved_beat_is_edited_not_accepted() -> None:
    # 0.1 s apart: an "exact" match for agreement (150 ms), but not unchanged geometry
    out = compare_suggestion(_json(TimeInstant(time_s=1.0, label="N")), _json(TimeInstant(time_s=1.1, label="N")))
    assert out == [("edited", "N")]
    same = compare_suggestion(_json(TimeInstant(time_s=1.0, label="N")), _json(TimeInstant(time_s=1.0, label="N")))
    assert same == [("accepted", "N")]


def test_nothing_suggested_everything_missed() -> None:
    assert compare_suggestion([], _json(_span(0, 4), _span(5, 9, "Test"))) == [("missed", "Problem"), ("missed", "Test")]
    assert compare_suggestion(_json(_span(0, 4)), []) == [("deleted", "Problem")]


def _task(store: Store, tid: str) -> None:
    store.add_tasks([TaskIn(id=tid, modality="text", source_uri=f"mem://{tid}", data={"text": "note"})])


def _predict(store: Store, tid: str, version: str, regions: list) -> None:
    store.add_predictions([
        PredictionIn(task_id=tid, model_name="ner", model_version=version, taxonomy_version="tx", regions=regions, score=0.5, uncertainty=0.5)
    ])  # fmt: skip


def _annotate(store: Store, tid: str, sid: str, who: str, regions: list, version: str | None) -> None:
    store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=sid, annotator=who, regions=regions, model_version=version))


def test_suggestion_report_per_version_and_label(store: Store) -> None:
    for tid in ("t1", "t2", "t3"):
        _task(store, tid)
    # t1: annotation names v1
    _predict(store, "t1", "v1", SUGGESTED)
    _annotate(store, "t1", "1:1", "alice", ANNOTATED, "v1")
    # t2: annotation names no version; the push says v2. v1's prediction differs (one span only)
    _predict(store, "t2", "v1", [_span(0, 5)])
    _predict(store, "t2", "v2", [_span(0, 5), _span(10, 15, "Medication")])
    store.record_pushes(REF, {"t2": 2}, "v2")
    _annotate(store, "t2", "1:2", "bob", [_span(0, 5), _span(10, 15, "Medication")], None)
    # t3: no version anywhere -> not compared
    _predict(store, "t3", "v1", [_span(0, 5)])
    _annotate(store, "t3", "1:3", "carol", [], None)
    report = suggestion_report(store)

    counts = {k: (c.accepted, c.edited, c.deleted, c.missed) for k, c in report.counts.items()}
    assert counts == {
        ("v1", "Medication"): (0, 0, 1, 1),
        ("v1", "Problem"): (1, 2, 0, 0),
        ("v2", "Medication"): (1, 0, 0, 0),
        ("v2", "Problem"): (1, 0, 0, 0),
    }
    v1, v2 = report.versions["v1"], report.versions["v2"]
    assert (v1.annotations, v1.unchanged_annotations) == (1, 0)
    assert v1.total is not None and (v1.total.accepted, v1.total.edited, v1.total.deleted, v1.total.missed) == (1, 2, 1, 1)
    assert v1.total.suggested == 4 and v1.total.acceptance == pytest.approx(0.25)  # 1 of 4 suggestions kept
    assert (v2.annotations, v2.unchanged_annotations) == (1, 1)
    assert v2.total is not None and v2.total.acceptance == pytest.approx(1.0)
    assert v1.flags == [] and v2.flags == []  # fewer than MIN_SUGGESTIONS
    doc = report.to_json()
    assert {v["model_version"]: v["suggested"] for v in doc["versions"]} == {"v1": 4, "v2": 2}
    assert len(doc["labels"]) == 4


def test_annotation_version_wins_over_pushed_version(store: Store) -> None:
    _task(store, "t1")
    _predict(store, "t1", "v1", [_span(0, 5)])
    _predict(store, "t1", "v2", [_span(20, 25)])
    store.record_pushes(REF, {"t1": 1}, "v2")
    _annotate(store, "t1", "1:1", "alice", [_span(0, 5)], "v1")
    report = suggestion_report(store)
    assert set(report.versions) == {"v1"}
    assert report.counts[("v1", "Problem")].accepted == 1


def _many(store: Store, n: int, version: str, kept: int) -> None:
    """``n`` tasks with one suggested span each; the first ``kept`` are submitted unchanged, the rest deleted."""
    for i in range(n):
        tid = f"{version}-{i}"
        _task(store, tid)
        _predict(store, tid, version, [_span(0, 5)])
        _annotate(store, tid, f"1:{version}-{i}", "alice", [_span(0, 5)] if i < kept else [], version)


def test_rubber_stamping_flag(store: Store) -> None:
    assert MIN_SUGGESTIONS == 20
    _many(store, 20, "v3", kept=20)  # 20 suggestions, all accepted: 100 % > 98 %
    _many(store, 19, "v4", kept=19)  # all accepted but only 19 suggestions: no flag
    report = suggestion_report(store)
    [flag] = report.versions["v3"].flags
    assert flag.startswith("possible rubber-stamping") and "100% of 20" in flag
    assert report.versions["v3"].unchanged_annotations == 20
    assert report.versions["v4"].flags == []


def test_misleading_flag(store: Store) -> None:
    _many(store, 20, "v5", kept=9)  # 9 of 20 = 45 % < 50 %
    _many(store, 20, "v6", kept=10)  # 10 of 20 = 50 %: neither flag
    report = suggestion_report(store)
    [flag] = report.versions["v5"].flags
    assert flag.startswith("suggestions mislead") and "45% of 20" in flag
    assert report.versions["v6"].flags == []
