"""Which label training uses per task (services/quality/labels.py)."""

from __future__ import annotations

from cliniloop.services.core.schemas import AnnotationIn, TaskIn, TextSpan, TimeInstant
from cliniloop.services.core.store import Store
from cliniloop.services.quality.labels import training_labels

REF = "http://ls:8080/projects/1"


def _span(start: int, end: int, label: str = "Problem", assertion: str | None = None, text: str | None = None) -> TextSpan:
    attrs = {"assertion": assertion} if assertion else {}
    return TextSpan(start=start, end=end, text=text or "x" * (end - start), label=label, attributes=attrs)


def _task(store: Store, tid: str, modality: str = "text") -> None:
    store.add_tasks([TaskIn(id=tid, modality=modality, source_uri=f"mem://{tid}", data={"text": "chest pain and fever"})])


def _annotate(store: Store, tid: str, sid: str, who: str | None, regions: list) -> int:
    store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=sid, annotator=who, regions=regions, model_version="m1"))
    return next(a.id for a in store.annotations(tid) if a.source_annotation_id == sid)


def test_single_annotator_gives_their_newest_annotation(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10)])
    newest = _annotate(store, "t1", "1:12", "alice", [_span(0, 10), _span(15, 20, "Medication")])
    labels = training_labels(store, threshold=0.8)
    label = labels.get("t1")
    assert label is not None
    # alice counts once: her newer annotation 1:12 (two spans), not 1:11
    assert label.source == "single"
    assert label.key == f"annotation:{newest}"
    assert label.annotators == ("alice",)
    assert [(r["start"], r["end"], r["label"]) for r in label.regions] == [(0, 10, "Problem"), (15, 20, "Medication")]
    assert labels.unresolved == []


def test_two_agreeing_annotators_give_agreed_newest(store: Store) -> None:
    _task(store, "t1")
    # identical geometry/label/assertion; the text field is not compared, so it tells whose label was kept
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10, assertion="negated", text="from alice")])
    bob = _annotate(store, "t1", "1:12", "bob", [_span(0, 10, assertion="negated", text="from bob..")])
    label = training_labels(store, threshold=0.8).get("t1")
    assert label is not None
    assert label.source == "agreed"
    assert label.annotators == ("alice", "bob")
    assert label.key == f"annotation:{bob}"  # bob's is the newer one
    assert label.regions[0]["text"] == "from bob.."


def test_agreement_exactly_at_threshold_counts_as_agreed(store: Store) -> None:
    _task(store, "t1")
    # A has X, Y; B has X: micro F1 = 2*1/(2+1) = 2/3
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10), _span(20, 30)])
    _annotate(store, "t1", "1:12", "bob", [_span(0, 10)])
    assert training_labels(store, threshold=2 / 3).get("t1") is not None
    below = training_labels(store, threshold=0.67)  # 0.6667 < 0.67
    assert below.get("t1") is None and below.unresolved == ["t1"]


def test_eight_ninths_agreement_against_two_thresholds(store: Store) -> None:
    _task(store, "t1")
    # A: 5 spans, B: the first 4 -> F1 = 2*4/(5+4) = 8/9 = 0.889
    spans = [_span(10 * i, 10 * i + 5) for i in range(5)]
    _annotate(store, "t1", "1:11", "alice", spans)
    _annotate(store, "t1", "1:12", "bob", spans[:4])
    assert training_labels(store, threshold=0.8).get("t1").source == "agreed"  # type: ignore[union-attr]
    assert training_labels(store, threshold=0.9).unresolved == ["t1"]


def test_disagreeing_annotators_are_unresolved_and_left_out(store: Store) -> None:
    _task(store, "t1")
    _task(store, "t2")
    # same span, different assertion: no match with the assertion condition -> agreement 0
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10, assertion="negated")])
    _annotate(store, "t1", "1:12", "bob", [_span(0, 10, assertion="present")])
    _annotate(store, "t2", "1:13", "alice", [_span(0, 10)])
    labels = training_labels(store, threshold=0.8)
    assert labels.unresolved == ["t1"]
    assert "t1" not in labels.labels and labels.get("t1") is None
    assert set(labels.labels) == {"t2"}


def test_open_adjudication_still_leaves_the_task_out(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10, assertion="negated")])
    _annotate(store, "t1", "1:12", "bob", [_span(0, 10, assertion="present")])
    store.open_adjudication("t1", "text", 0.0, 0.8, ["1:11", "1:12"], ["alice", "bob"], REF)
    labels = training_labels(store, threshold=0.8)
    assert labels.get("t1") is None and labels.unresolved == ["t1"]


def test_resolved_adjudication_wins_over_annotations(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10, assertion="negated")])
    _annotate(store, "t1", "1:12", "bob", [_span(0, 10, assertion="present")])
    adj_id, _ = store.open_adjudication("t1", "text", 0.0, 0.8, ["1:11", "1:12"], ["alice", "bob"], REF)
    store.resolve_adjudication(adj_id, [_span(0, 10, assertion="possible")], "rev", "9:1")
    labels = training_labels(store, threshold=0.8)
    label = labels.get("t1")
    assert label is not None
    assert label.source == "adjudicated"
    assert label.key == f"adjudication:{adj_id}"
    assert label.annotators == ("rev",)
    assert label.regions[0]["attributes"] == {"assertion": "possible"}
    assert labels.unresolved == []


def test_resolved_adjudication_also_wins_over_agreeing_annotators(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10)])
    _annotate(store, "t1", "1:12", "bob", [_span(0, 10)])
    adj_id, _ = store.open_adjudication("t1", "text", 0.0, 0.8, ["1:11", "1:12"], ["alice", "bob"], REF)
    store.resolve_adjudication(adj_id, [_span(2, 8, "Test")], "rev", "9:1")
    label = training_labels(store, threshold=0.8).get("t1")
    assert label is not None and label.source == "adjudicated" and label.regions[0]["label"] == "Test"


def test_gold_answer_wins_over_adjudication_and_annotations(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10)])
    adj_id, _ = store.open_adjudication("t1", "text", 0.0, 0.8, ["1:11"], ["alice"], REF)
    store.resolve_adjudication(adj_id, [_span(0, 10, "Medication")], "rev", "9:1")
    store.set_gold_answer("t1", [_span(0, 4, "Test")], "manual", "rev")
    label = training_labels(store, threshold=0.8).get("t1")
    assert label is not None
    assert (label.source, label.key) == ("gold", "gold:t1")
    assert [(r["start"], r["end"], r["label"]) for r in label.regions] == [(0, 4, "Test")]


def test_gold_task_without_annotations_has_a_label(store: Store) -> None:
    _task(store, "t1")
    store.set_gold_answer("t1", [_span(0, 4)], "manual", "rev")
    assert training_labels(store, threshold=0.8).get("t1").source == "gold"  # type: ignore[union-attr]


def test_unknown_annotators_count_as_one_newer_replaces_older(store: Store) -> None:
    _task(store, "t1")
    # as two people these would disagree (F1 0); as one unknown annotator the newer one stands
    _annotate(store, "t1", "1:11", None, [_span(0, 10)])
    newer = _annotate(store, "t1", "1:12", None, [_span(20, 30, "Medication")])
    labels = training_labels(store, threshold=0.8)
    label = labels.get("t1")
    assert label is not None and labels.unresolved == []
    assert (label.source, label.key, label.annotators) == ("single", f"annotation:{newer}", ("unknown",))
    assert label.regions[0]["label"] == "Medication"


def test_unknown_annotator_and_named_one_are_two_annotators(store: Store) -> None:
    _task(store, "t1")
    _annotate(store, "t1", "1:11", None, [_span(0, 10)])
    _annotate(store, "t1", "1:12", "alice", [_span(20, 30)])
    assert training_labels(store, threshold=0.8).unresolved == ["t1"]  # F1 0 between "unknown" and alice


def test_modality_filter(store: Store) -> None:
    _task(store, "t1", "text")
    _task(store, "e1", "ecg")
    _annotate(store, "t1", "1:11", "alice", [_span(0, 10)])
    _annotate(store, "e1", "2:11", "alice", [TimeInstant(time_s=1.0, label="N")])
    assert set(training_labels(store, "ecg", threshold=0.8).labels) == {"e1"}
    assert set(training_labels(store, "text", threshold=0.8).labels) == {"t1"}
    assert set(training_labels(store, threshold=0.8).labels) == {"t1", "e1"}


def test_ecg_agreement_ignores_assertion_and_uses_beat_tolerance(store: Store) -> None:
    _task(store, "e1", "ecg")
    # beats 0.1 s apart, same class: they match (tolerance 0.15 s) -> F1 1.0
    _annotate(store, "e1", "2:11", "alice", [TimeInstant(time_s=1.0, label="N")])
    _annotate(store, "e1", "2:12", "bob", [TimeInstant(time_s=1.1, label="N")])
    assert training_labels(store, threshold=0.8).get("e1").source == "agreed"  # type: ignore[union-attr]
