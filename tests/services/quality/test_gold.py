"""Gold checks: accuracy, marking, importing and mixing (services/quality/gold.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from cliniloop.services.core.schemas import AnnotationIn, TaskIn, TextSpan, TimeInstant
from cliniloop.services.core.store import Store
from cliniloop.services.core.tables import AnnotationRow
from cliniloop.services.quality.gold import gold_accuracy, import_gold, mark_gold, mix_gold, period_of

REF = "http://ls:8080/projects/1"


def _span(start: int, end: int, label: str = "Problem", assertion: str | None = None, text: str | None = None) -> TextSpan:
    attrs = {"assertion": assertion} if assertion else {}
    return TextSpan(start=start, end=end, text=text or "x" * (end - start), label=label, attributes=attrs)


def _task(store: Store, tid: str, modality: str = "text", **data) -> None:
    store.add_tasks([TaskIn(id=tid, modality=modality, source_uri=f"mem://{tid}", data={"text": "chest pain today", **data})])


def _annotate(store: Store, tid: str, sid: str, who: str | None, regions: list, at: datetime | None = None) -> None:
    store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=sid, annotator=who, regions=regions))
    if at is not None:
        with store.session() as s:
            s.execute(update(AnnotationRow).where(AnnotationRow.source_annotation_id == sid).values(updated_at=at, created_at=at))


# -- period_of -------------------------------------------------------------------------------------
def test_period_of_day_week_month() -> None:
    at = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # a Wednesday
    assert period_of(at, "day") == "2026-12-02"
    assert period_of(at, "week") == "2026-W49"
    assert period_of(at, "month") == "2026-12"
    assert period_of(at) == "2026-W49"  # week is the default
    # naive = UTC; ISO weeks cross the year: Friday 2027-01-01 is in 2026-W53, Monday 2027-01-04 in 2027-W01
    assert period_of(datetime(2027, 1, 1), "week") == "2026-W53"
    assert period_of(datetime(2027, 1, 4), "week") == "2027-W01"
    assert period_of(datetime(2027, 1, 1), "month") == "2027-01"
    assert period_of(datetime(2026, 3, 5, tzinfo=timezone(timedelta(hours=2))), "day") == "2026-03-05"


# -- gold_accuracy ---------------------------------------------------------------------------------
@pytest.fixture
def gold_store(store: Store) -> Store:
    """g1: one Problem span; g2: a negated Problem and a Medication; g3: gold, never annotated.

    alice: g1 right (2026-12-01, W49); g2 wrong at first (11-30) then right (12-08, W50)
    bob:   g1 right (12-02, W49); g2 only the Problem span (12-03, W49): F1 2*1/(1+2) = 2/3
    """
    for tid in ("g1", "g2", "g3", "t9"):
        _task(store, tid)
    g1 = [_span(0, 10, assertion="present")]
    g2 = [_span(0, 10, assertion="negated"), _span(20, 30, "Medication")]
    store.set_gold_answer("g1", g1, "manual", "rev")
    store.set_gold_answer("g2", g2, "manual", "rev")
    store.set_gold_answer("g3", [_span(0, 4)], "manual", "rev")
    _annotate(store, "g1", "1:1", "alice", g1, datetime(2026, 12, 1, 9, tzinfo=UTC))
    _annotate(store, "g2", "1:2", "alice", [_span(0, 10, assertion="present")], datetime(2026, 11, 30, 9, tzinfo=UTC))
    _annotate(store, "g2", "1:3", "alice", g2, datetime(2026, 12, 8, 9, tzinfo=UTC))
    _annotate(store, "g1", "1:4", "bob", g1, datetime(2026, 12, 2, 9, tzinfo=UTC))
    _annotate(store, "g2", "1:5", "bob", g2[:1], datetime(2026, 12, 3, 9, tzinfo=UTC))
    _annotate(store, "t9", "1:6", "bob", [_span(50, 60)], datetime(2026, 12, 3, 9, tzinfo=UTC))  # not gold: not scored
    return store


def test_gold_accuracy_per_annotator_and_week(gold_store: Store) -> None:
    report = gold_accuracy(gold_store, target=0.95, period="week")
    assert report.gold_tasks == 3
    cells = {(c.annotator, c.period): (c.tasks, c.accuracy, c.passed) for c in report.cells}
    assert cells.keys() == {("alice", "2026-W49"), ("alice", "2026-W50"), ("bob", "2026-W49")}
    assert cells[("alice", "2026-W49")] == (1, pytest.approx(1.0), 1)
    assert cells[("alice", "2026-W50")] == (1, pytest.approx(1.0), 1)  # her newest g2 annotation counts
    # bob: (1 + 2/3) / 2 = 5/6
    assert cells[("bob", "2026-W49")] == (2, pytest.approx(5 / 6), 1)
    alice, bob = report.overall["alice"], report.overall["bob"]
    assert (alice.tasks, alice.accuracy, alice.passed) == (2, pytest.approx(1.0), 2)
    assert (bob.tasks, bob.accuracy, bob.passed) == (2, pytest.approx(5 / 6), 1)
    assert report.below_target() == ["bob"]
    assert gold_accuracy(gold_store, target=0.8).below_target() == []  # 5/6 = 0.833 >= 0.8
    doc = report.to_json()
    assert {a["annotator"]: a["meets_target"] for a in doc["annotators"]} == {"alice": True, "bob": False}
    assert doc["below_target"] == ["bob"] and doc["gold_tasks"] == 3


def test_gold_accuracy_per_day_and_month(gold_store: Store) -> None:
    days = {(c.annotator, c.period): c.tasks for c in gold_accuracy(gold_store, period="day").cells}
    assert days == {("alice", "2026-12-01"): 1, ("alice", "2026-12-08"): 1, ("bob", "2026-12-02"): 1, ("bob", "2026-12-03"): 1}
    months = gold_accuracy(gold_store, period="month").cells
    assert [(c.annotator, c.period, c.tasks) for c in months] == [("alice", "2026-12", 2), ("bob", "2026-12", 2)]


def test_gold_accuracy_counts_the_assertion(store: Store) -> None:
    _task(store, "g1")
    store.set_gold_answer("g1", [_span(0, 10, assertion="negated")], "manual", "rev")
    _annotate(store, "g1", "1:1", "carol", [_span(0, 10, assertion="present")])
    cell = gold_accuracy(store).overall["carol"]
    assert (cell.accuracy, cell.passed) == (0.0, 0)  # right place, wrong assertion: no match


def test_gold_accuracy_without_gold(store: Store) -> None:
    report = gold_accuracy(store)
    assert report.gold_tasks == 0 and report.cells == [] and report.below_target() == []


# -- mark_gold -------------------------------------------------------------------------------------
def test_mark_gold_from_a_single_annotation(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:1", "alice", [_span(0, 10, assertion="negated")])
    assert mark_gold(store, ["t1"], "rev") == {"t1": "created"}
    gold = store.gold_answers()["t1"]
    assert gold.source == "label:single" and gold.created_by == "rev"
    assert [(r["start"], r["end"], r["label"], r["attributes"]) for r in gold.regions] == [(0, 10, "Problem", {"assertion": "negated"})]
    [event] = store.audit_events("gold_marked")
    assert (event.actor, event.entity_id, event.details) == ("rev", "t1", {"source": "single", "regions": 1})
    assert mark_gold(store, ["t1"], "rev") == {"t1": "unchanged"}


def test_mark_gold_refuses_an_unresolved_disagreement(store: Store) -> None:
    _task(store, "t1")
    _task(store, "t2")
    _annotate(store, "t1", "1:1", "alice", [_span(0, 10)])
    _annotate(store, "t2", "1:2", "alice", [_span(0, 10, assertion="negated")])
    _annotate(store, "t2", "1:3", "bob", [_span(0, 10, assertion="present")])
    with pytest.raises(ValueError, match=r"task t2 cannot be a gold check: annotators disagree"):
        mark_gold(store, ["t2", "t1"], "rev")
    assert store.gold_answers() == {}  # t1 was fine but nothing is stored
    assert store.audit_events("gold_marked") == []


def test_mark_gold_refuses_an_unlabelled_task(store: Store) -> None:
    _task(store, "t1")
    _task(store, "t2")
    with pytest.raises(ValueError, match=r"task t1 cannot be a gold check: it has no label \(and 1 more\)"):
        mark_gold(store, ["t1", "t2"], "rev")


# -- import_gold -----------------------------------------------------------------------------------
def _span_json(start: int, end: int, label: str = "Problem", **extra) -> dict:
    return {"kind": "span", "id": f"s{start}", "start": start, "end": end, "text": "x" * (end - start), "label": label, **extra}


def test_import_gold_json_lines(store: Store, tmp_path: Path) -> None:
    _task(store, "g1")
    _task(store, "g2")
    path = tmp_path / "gold.jsonl"
    lines = [{"task_id": "g1", "regions": [_span_json(0, 10)]}, {"task_id": "g2", "regions": [_span_json(0, 5, "Medication")]}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert import_gold(store, path, "rev") == {"created": 2, "updated": 0, "unchanged": 0}
    gold = store.gold_answers()
    assert gold["g1"].source == "file:gold.jsonl" and gold["g1"].regions[0]["label"] == "Problem"
    assert gold["g2"].regions[0]["label"] == "Medication"
    [event] = store.audit_events("gold_import")
    assert (event.entity, event.entity_id, event.details) == ("gold_answers", "gold.jsonl", {"created": 2, "updated": 0, "unchanged": 0})
    assert import_gold(store, path, "rev") == {"created": 0, "updated": 0, "unchanged": 2}


def _ls_span(region_id: str, start: int, end: int, text: str, label: str) -> dict:
    return {"id": region_id, "from_name": "entity", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}  # fmt: skip


def test_import_gold_label_studio_export(store: Store, tmp_path: Path) -> None:
    _task(store, "g1")
    assertion = {"id": "r1", "from_name": "assertion", "to_name": "text", "type": "choices",
                 "value": {"start": 0, "end": 10, "text": "chest pain", "choices": ["negated"]}}  # fmt: skip
    export = [{
        "id": 77,
        "data": {"cliniloop_id": "g1", "text": "chest pain today"},
        "annotations": [
            {"id": 4, "completed_by": 1, "result": [_ls_span("r0", 11, 16, "today", "Medication")]},
            {"id": 5, "completed_by": 1, "result": [_ls_span("r1", 0, 10, "chest pain", "Problem"), assertion]},
            {"id": 6, "completed_by": 2, "was_cancelled": True, "result": [_ls_span("r2", 0, 5, "chest", "Test")]},
        ],
    }]  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    assert import_gold(store, path, "rev")["created"] == 1
    # the newest submitted annotation (id 5; 6 was skipped) with its per-region assertion
    [region] = store.gold_answers()["g1"].regions
    assert (region["id"], region["start"], region["end"], region["text"], region["label"]) == ("r1", 0, 10, "chest pain", "Problem")
    assert region["attributes"] == {"assertion": "negated"}


def test_import_gold_unknown_task_stores_nothing(store: Store, tmp_path: Path) -> None:
    _task(store, "g1")
    path = tmp_path / "gold.jsonl"
    lines = [{"task_id": "g1", "regions": [_span_json(0, 10)]}, {"task_id": "nope", "regions": []}]
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    with pytest.raises(ValueError, match="is not in the store") as err:
        import_gold(store, path, "rev")
    assert str(path) in str(err.value) and "nope" in str(err.value)
    assert store.gold_answers() == {} and store.audit_events("gold_import") == []


def test_import_gold_bad_regions_stores_nothing(store: Store, tmp_path: Path) -> None:
    _task(store, "g1")
    _task(store, "g2")
    path = tmp_path / "gold.jsonl"
    lines = [{"task_id": "g1", "regions": [_span_json(0, 10)]}, {"task_id": "g2", "regions": [_span_json(8, 3)]}]
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    with pytest.raises(ValueError, match="entry 2: invalid regions") as err:
        import_gold(store, path, "rev")
    assert str(path) in str(err.value)
    assert store.gold_answers() == {}


def test_import_gold_bad_label_studio_region_names_the_file(store: Store, tmp_path: Path) -> None:
    _task(store, "g1")
    export = [{"data": {"cliniloop_id": "g1", "text": "chest pain today"}, "annotations": [{"id": 5, "result": [_ls_span("r1", 10, 3, "x", "Problem")]}]}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        import_gold(store, path, "rev")
    assert store.gold_answers() == {}
    assert str(path) in str(err.value) and "entry 1" in str(err.value)


def test_import_gold_rejects_garbage(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("not json\n{also not}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="neither JSON nor JSON lines") as err:
        import_gold(store, path, "rev")
    assert str(path) in str(err.value)
    entry = tmp_path / "noid.json"
    entry.write_text(json.dumps([{"data": {"text": "x"}, "annotations": []}]), encoding="utf-8")
    with pytest.raises(ValueError, match="entry 1: needs data.cliniloop_id"):
        import_gold(store, entry, "rev")


# -- mix_gold --------------------------------------------------------------------------------------
@pytest.fixture
def mix_store(store: Store) -> Store:
    """Batch b0..b5 (text); gold g1..g4 (text, g1 already in the project) and e1 (ecg)."""
    for i in range(6):
        _task(store, f"b{i}")
    for tid in ("g1", "g2", "g3", "g4"):
        _task(store, tid)
        store.set_gold_answer(tid, [_span(0, 4)], "manual", "rev")
    _task(store, "e1", "ecg")
    store.set_gold_answer("e1", [TimeInstant(time_s=1.0, label="N")], "manual", "rev")
    store.record_pushes(REF, {"g1": 1}, "v1")
    return store


BATCH = [f"b{i}" for i in range(6)]


@pytest.mark.parametrize("seed", range(5))
def test_mix_gold_adds_the_share(mix_store: Store, seed: int) -> None:
    # round(6 * 0.25 / 0.75) = round(2.0) = 2 gold tasks: 2 of 8 = 25 %
    out = mix_gold(mix_store, REF, BATCH, 0.25, seed=seed)
    added = [t for t in out if t not in BATCH]
    assert len(out) == 8 and len(added) == 2
    assert set(added) <= {"g2", "g3", "g4"}  # never g1 (in the project) nor e1 (ecg)
    assert [t for t in out if t in BATCH] == BATCH  # the batch keeps its order


def test_mix_gold_at_least_one_and_at_most_the_candidates(mix_store: Store) -> None:
    # round(6 * 0.05 / 0.95) = round(0.316) = 0 -> at least 1
    assert len(mix_gold(mix_store, REF, BATCH, 0.05)) == 7
    # round(6 * 0.9 / 0.1) = 54, but only g2, g3, g4 can go
    out = mix_gold(mix_store, REF, BATCH, 0.9)
    assert sorted(set(out) - set(BATCH)) == ["g2", "g3", "g4"]
    # another project has none of them yet: g1 may go there
    assert "g1" in mix_gold(mix_store, "http://ls:8080/projects/2", BATCH, 0.9)


def test_mix_gold_same_modality_only(mix_store: Store) -> None:
    _task(mix_store, "x1", "ecg")
    assert mix_gold(mix_store, REF, ["x1"], 0.5) in (["e1", "x1"], ["x1", "e1"])  # round(1*0.5/0.5) = 1


def test_mix_gold_same_eeg_montage_only(store: Store) -> None:
    _task(store, "q1", "eeg", montage="bipolar")
    _task(store, "gb", "eeg", montage="bipolar")
    _task(store, "gr", "eeg", montage="referential")
    for tid in ("gb", "gr"):
        store.set_gold_answer(tid, [], "manual", "rev")
    assert set(mix_gold(store, REF, ["q1"], 0.9)) == {"q1", "gb"}


def test_mix_gold_nothing_to_add(mix_store: Store) -> None:
    assert mix_gold(mix_store, REF, BATCH, 0.0) == BATCH
    assert mix_gold(mix_store, REF, [], 0.5) == []
    _task(mix_store, "m1", "image")
    assert mix_gold(mix_store, REF, ["m1"], 0.5) == ["m1"]  # no image gold task
