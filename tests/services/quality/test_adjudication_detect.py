"""Opening, refreshing and withdrawing adjudications (services/quality/adjudication.py, no Label Studio)."""

from __future__ import annotations

import pytest

from cliniloop.services.core.schemas import AnnotationIn, TaskIn, TextSpan
from cliniloop.services.core.store import Store
from cliniloop.services.quality.adjudication import MAX_TITLE_CHARS, detect_disagreements, project_id_of, review_title

BASE = "http://ls:8080"


def _span(start: int, end: int, label: str = "Problem", assertion: str | None = None) -> TextSpan:
    attrs = {"assertion": assertion} if assertion else {}
    return TextSpan(start=start, end=end, text="x" * (end - start), label=label, attributes=attrs)


X, Y, Z = _span(0, 10), _span(20, 30), _span(40, 50)


def _task(store: Store, tid: str) -> None:
    store.add_tasks([TaskIn(id=tid, modality="text", source_uri=f"mem://{tid}", data={"text": "note"})])


def _annotate(store: Store, tid: str, sid: str, who: str | None, regions: list) -> None:
    store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=sid, annotator=who, regions=regions))


def _disagreeing(store: Store, tid: str = "t1", project: int = 1, first: int = 11) -> None:
    """A has X, Y; B has X: micro F1 = 2*1/(2+1) = 0.6667 (< 0.8)."""
    _task(store, tid)
    _annotate(store, tid, f"{project}:{first}", "alice", [X, Y])
    _annotate(store, tid, f"{project}:{first + 1}", "bob", [X])


def _events(store: Store, action: str) -> list:
    return store.audit_events(action)


# -- project_id_of / review_title ----------------------------------------------------------------
def test_project_id_of() -> None:
    assert project_id_of(f"{BASE}/projects/12") == 12
    assert project_id_of(f"{BASE}/projects/7/") == 7
    with pytest.raises(ValueError, match="not a Label Studio project reference"):
        project_id_of(f"{BASE}/projects/abc")


def test_review_title_fits_fifty_characters() -> None:
    assert review_title("ECG beats", " review") == "ECG beats review"
    long = "a" * 60
    # 50 - len(" review") = 43 characters of the title are kept
    assert review_title(long, " review") == "a" * 43 + " review"
    assert len(review_title(long, " review")) == MAX_TITLE_CHARS
    # the cut falls right after a space: the space is stripped -> 42 + 7 = 49 characters
    assert review_title("b" * 42 + " " + "c" * 10, " review") == "b" * 42 + " review"


# -- detect_disagreements ------------------------------------------------------------------------
def test_opens_one_adjudication_with_agreement_and_audit(store: Store) -> None:
    _disagreeing(store)
    # the task is in three projects; its annotations' ids start with "1:" -> project 1
    # (not 11: the match is on the whole project id, not a prefix)
    store.record_pushes(f"{BASE}/projects/2", {"t1": 201}, "v1")
    store.record_pushes(f"{BASE}/projects/11", {"t1": 1101}, "v1")
    store.record_pushes(f"{BASE}/projects/1", {"t1": 101}, "v1")
    report = detect_disagreements(store, threshold=0.8)
    [adj] = store.adjudications()
    assert report.opened == [adj.id] and report.refreshed == [] and report.withdrawn == []
    assert adj.task_id == "t1" and adj.status == "open" and adj.modality == "text"
    assert adj.agreement == pytest.approx(2 / 3)  # 2*1/(2+1)
    assert adj.threshold == 0.8
    assert adj.annotation_ids == ["1:11", "1:12"]
    assert adj.annotators == ["alice", "bob"]
    assert adj.source_project_ref == f"{BASE}/projects/1"
    [event] = _events(store, "adjudication_opened")
    assert (event.actor, event.entity, event.entity_id) == ("cliniloop", "task", "t1")
    assert event.details == {"adjudication": adj.id, "agreement": 0.6667, "threshold": 0.8, "annotators": 2}


def test_source_project_ref_given_wins_and_none_without_push(store: Store) -> None:
    _disagreeing(store, "t1")
    _disagreeing(store, "t2", first=21)
    store.record_pushes(f"{BASE}/projects/1", {"t1": 101, "t2": 102}, "v1")
    detect_disagreements(store, threshold=0.8, task_ids=["t1"], source_project_ref=f"{BASE}/projects/9")
    assert store.adjudications()[0].source_project_ref == f"{BASE}/projects/9"
    _disagreeing(store, "t3", first=31)  # never pushed anywhere
    detect_disagreements(store, threshold=0.8, task_ids=["t3"])
    assert {a.task_id: a.source_project_ref for a in store.adjudications()}["t3"] is None


def test_running_twice_does_not_duplicate(store: Store) -> None:
    _disagreeing(store)
    first = detect_disagreements(store, threshold=0.8)
    second = detect_disagreements(store, threshold=0.8)
    assert len(first.opened) == 1
    assert (second.opened, second.refreshed, second.withdrawn) == ([], [], [])
    assert len(store.adjudications()) == 1
    assert len(_events(store, "adjudication_opened")) == 1
    assert _events(store, "adjudication_refreshed") == []


def test_same_annotations_edited_refresh_the_figure_silently(store: Store) -> None:
    _disagreeing(store)
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:12", "bob", [X, Z])  # A: X, Y; B: X, Z -> 2*1/(2+2) = 0.5
    report = detect_disagreements(store, threshold=0.8)
    assert (report.opened, report.refreshed, report.withdrawn) == ([], [], [])
    [adj] = store.adjudications()
    assert adj.status == "open" and adj.agreement == pytest.approx(0.5)
    assert len(store.audit_events("adjudication_*")) == 1  # only the opening


def test_new_annotator_refreshes_with_audit(store: Store) -> None:
    _disagreeing(store)
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:13", "carol", [X, Y])
    report = detect_disagreements(store, threshold=0.8)
    [adj] = store.adjudications()
    assert report.refreshed == [adj.id] and report.opened == []
    assert adj.annotation_ids == ["1:11", "1:12", "1:13"] and adj.annotators == ["alice", "bob", "carol"]
    # lowest pairwise agreement: alice|bob 2/3, alice|carol 1, bob|carol 2/3 -> 2/3
    assert adj.agreement == pytest.approx(2 / 3)
    [event] = _events(store, "adjudication_refreshed")
    assert event.details["annotators"] == 3


def test_agreeing_after_edit_withdraws(store: Store) -> None:
    _disagreeing(store)
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:12", "bob", [X, Y])  # now identical: F1 = 1.0
    report = detect_disagreements(store, threshold=0.8)
    [adj] = store.adjudications()
    assert report.withdrawn == [adj.id] and report.opened == []
    assert adj.status == "withdrawn"
    [event] = _events(store, "adjudication_withdrawn")
    assert event.entity_id == "t1" and event.details == {"adjudication": adj.id, "agreement": 1.0}
    # nothing more to do on a further run
    again = detect_disagreements(store, threshold=0.8)
    assert again.withdrawn == [] and len(_events(store, "adjudication_withdrawn")) == 1


def test_withdrawn_one_disagreeing_again_is_opened_again(store: Store) -> None:
    _disagreeing(store)
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:12", "bob", [X, Y])
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:12", "bob", [X])  # back to 2/3
    report = detect_disagreements(store, threshold=0.8)
    [adj] = store.adjudications()
    assert report.opened == [adj.id]
    assert adj.status == "open"


def test_withdrawn_one_opened_again_is_audited_as_opened(store: Store) -> None:
    _disagreeing(store)
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:12", "bob", [X, Y])
    detect_disagreements(store, threshold=0.8)
    _annotate(store, "t1", "1:12", "bob", [X])
    detect_disagreements(store, threshold=0.8)
    assert len(_events(store, "adjudication_opened")) == 2  # the first opening and the re-opening


def test_resolved_adjudication_is_left_alone(store: Store) -> None:
    _disagreeing(store)
    detect_disagreements(store, threshold=0.8)
    [adj] = store.adjudications()
    store.resolve_adjudication(adj.id, [X], "rev", "5:1")
    before = len(store.audit_events())
    still = detect_disagreements(store, threshold=0.8)  # still disagreeing
    _annotate(store, "t1", "1:12", "bob", [X, Y])
    agreeing = detect_disagreements(store, threshold=0.8)  # agreeing now: not withdrawn either
    for report in (still, agreeing):
        assert (report.opened, report.refreshed, report.withdrawn) == ([], [], [])
    [after] = store.adjudications()
    assert after.status == "resolved" and after.reviewer == "rev"
    assert after.agreement == pytest.approx(2 / 3)  # not refreshed
    assert len(store.audit_events()) == before


def test_gold_tasks_are_skipped(store: Store) -> None:
    _disagreeing(store)
    store.set_gold_answer("t1", [X], "manual", "rev")
    report = detect_disagreements(store, threshold=0.8)
    assert report.opened == [] and store.adjudications() == []


def test_task_ids_filter(store: Store) -> None:
    _disagreeing(store, "t1")
    _disagreeing(store, "t2", first=21)
    report = detect_disagreements(store, task_ids=["t2"], threshold=0.8)
    assert [a.task_id for a in store.adjudications()] == ["t2"]
    assert len(report.opened) == 1


def test_single_annotator_or_agreement_opens_nothing(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", "alice", [X])
    _annotate(store, "t1", "1:12", "alice", [Y])  # the same annotator twice: one annotator
    _task(store, "t2")
    _annotate(store, "t2", "1:21", "alice", [X, Y])
    _annotate(store, "t2", "1:22", "bob", [X, Y])
    report = detect_disagreements(store, threshold=0.8)
    assert report.opened == [] and store.adjudications() == []


def test_threshold_decides(store: Store) -> None:
    _disagreeing(store)  # agreement 2/3
    assert detect_disagreements(store, threshold=0.6).opened == []
    assert len(detect_disagreements(store, threshold=0.7).opened) == 1
