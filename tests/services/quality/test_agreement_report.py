"""Agreement figures over the store (services/quality/agreement_report.py), hand-computed."""

from __future__ import annotations

import json

import pytest

from cliniloop.services.core.schemas import AnnotationIn, CodeVerdictIn, Rectangle, TaskIn, TextSpan, TimeInstant, TimeRange
from cliniloop.services.core.store import Store
from cliniloop.services.quality.agreement_report import ALL_PAIRS, SCORE_MEASURES, agreement_report


def _span(start: int, end: int, label: str = "Problem", assertion: str | None = None) -> TextSpan:
    attrs = {"assertion": assertion} if assertion else {}
    return TextSpan(start=start, end=end, text="x" * (end - start), label=label, attributes=attrs)


def _task(store: Store, tid: str, modality: str = "text") -> None:
    store.add_tasks([TaskIn(id=tid, modality=modality, source_uri=f"mem://{tid}", data={"text": "note"})])


_seq = iter(range(1000, 100000))


def _annotate(store: Store, tid: str, who: str, regions: list) -> None:
    store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=f"1:{next(_seq)}", annotator=who, regions=regions))


def _row(report, modality: str, measure: str, label: str = ALL_PAIRS, annotators: str = ALL_PAIRS):
    found = [r for r in report.rows if (r.modality, r.measure, r.label, r.annotators) == (modality, measure, label, annotators)]
    assert len(found) == 1, f"{modality}/{measure}/{label}/{annotators}: {found}"
    return found[0]


P, N = "present", "negated"


@pytest.fixture
def text_store(store: Store) -> Store:
    """Two annotators on two text tasks, one more task labelled by alice only.

    t1 alice: (0,10) Problem present, (20,25) Problem negated, (30,37) Medication present
    t1 bob:   (0,10) Problem present, (20,25) Problem negated, (30,37) Medication negated
    t2 alice: (40,50) Problem present, (60,70) Medication present
    t2 bob:   (40,50) Problem present, (60,68) Medication present   <- boundary disagreement
    """
    for tid in ("t1", "t2", "t3"):
        _task(store, tid)
    _annotate(store, "t1", "alice", [_span(0, 10, assertion=P), _span(20, 25, assertion=N), _span(30, 37, "Medication", P)])
    _annotate(store, "t1", "bob", [_span(0, 10, assertion=P), _span(20, 25, assertion=N), _span(30, 37, "Medication", N)])
    _annotate(store, "t2", "alice", [_span(40, 50, assertion=P), _span(60, 70, "Medication", P)])
    _annotate(store, "t2", "bob", [_span(40, 50, assertion=P), _span(60, 68, "Medication", P)])
    _annotate(store, "t3", "alice", [_span(0, 5)])
    return store


def test_text_span_f1_exact_and_overlap(text_store: Store) -> None:
    report = agreement_report(text_store, threshold=0.6)
    assert report.multi_annotated == {"text": 2}  # t3 has one annotator
    for who in (ALL_PAIRS, "alice | bob"):
        # exact: 4 matches (3 in t1, (40,50) in t2) over 5 + 5 spans -> 2*4/10 = 0.8
        row = _row(report, "text", "span_f1_exact", annotators=who)
        assert row.value == pytest.approx(0.8) and row.items == 10 and row.tasks == 2
        # Problem: 3 matched, 3 + 3 spans -> 1.0; Medication: 1 matched ((30,37)), 2 + 2 -> 0.5
        assert _row(report, "text", "span_f1_exact", "Problem", who).value == pytest.approx(1.0)
        med = _row(report, "text", "span_f1_exact", "Medication", who)
        assert med.value == pytest.approx(0.5) and med.items == 4
        # overlap: (60,70) and (60,68) meet too -> 5 matched of 10 -> 1.0
        assert _row(report, "text", "span_f1_overlap", annotators=who).value == pytest.approx(1.0)
        assert _row(report, "text", "span_f1_overlap", "Medication", who).value == pytest.approx(1.0)


def test_text_assertion_cohen_kappa(text_store: Store) -> None:
    report = agreement_report(text_store, threshold=0.6)
    for who in (ALL_PAIRS, "alice | bob"):
        # pairs on exactly matched spans: (P,P), (N,N), (P,N), (P,P)
        # po = 3/4; alice P 3/4 N 1/4, bob P 2/4 N 2/4 -> pe = 3/4*2/4 + 1/4*2/4 = 1/2
        # kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5
        row = _row(report, "text", "assertion_kappa", annotators=who)
        assert row.value == pytest.approx(0.5) and row.items == 4
        # Problem: (P,P), (N,N), (P,P): po = 1 -> 1.0
        assert _row(report, "text", "assertion_kappa", "Problem", who).value == pytest.approx(1.0)
        # Medication: (P,N) only: po = 0, pe = 1*0 + 0*1 = 0 -> 0.0
        med = _row(report, "text", "assertion_kappa", "Medication", who)
        assert med.value == pytest.approx(0.0) and med.items == 1
    assert report.value("text", "assertion_kappa") == pytest.approx(0.5)
    assert report.value("text", "no_such_measure") is None


def test_low_lists_score_rows_under_threshold_lowest_first(text_store: Store) -> None:
    report = agreement_report(text_store, threshold=0.6)
    low = report.low()
    # under 0.6: assertion_kappa Medication 0.0, assertion_kappa all 0.5, span_f1_exact Medication 0.5;
    # each pooled ("all") and for the pair "alice | bob"
    assert {(r.measure, r.label, r.annotators) for r in low} == {
        (m, lab, who)
        for m, lab in (("assertion_kappa", "Medication"), ("assertion_kappa", ALL_PAIRS), ("span_f1_exact", "Medication"))
        for who in (ALL_PAIRS, "alice | bob")
    }
    assert [r.value for r in low] == sorted(r.value for r in low)
    assert low[0].value == pytest.approx(0.0)
    assert agreement_report(text_store, threshold=0.4).low()[0].measure == "assertion_kappa"
    assert len(agreement_report(text_store, threshold=0.4).low()) == 2  # only the 0.0 rows
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["threshold"] == 0.6 and doc["multi_annotated_tasks"] == {"text": 2} and len(doc["low"]) == 6


def test_modality_filter_leaves_other_modalities_out(text_store: Store) -> None:
    report = agreement_report(text_store, modality="ecg", threshold=0.6)
    assert report.rows == [] and report.multi_annotated == {}


def test_three_annotators_fleiss_and_pairs(store: Store) -> None:
    """Four spans every annotator marked; assertions alice/bob/carol: PPP, NNN, PPN, NPN."""
    _task(store, "t1")
    pos = [(0, 5), (10, 15), (20, 25), (30, 35)]
    votes = {"alice": [P, N, P, N], "bob": [P, N, P, P], "carol": [P, N, N, N]}
    for who, vs in votes.items():
        _annotate(store, "t1", who, [_span(a, b, assertion=v) for (a, b), v in zip(pos, vs, strict=True)])
    report = agreement_report(store, threshold=0.6)
    # Fleiss: P_i = 1, 1, 1/3, 1/3 -> mean 2/3; p(P) = 6/12, p(N) = 6/12 -> Pe = 1/2
    # kappa = (2/3 - 1/2) / (1/2) = 1/3
    fleiss = _row(report, "text", "assertion_fleiss_kappa")
    assert fleiss.value == pytest.approx(1 / 3) and fleiss.items == 4 and fleiss.tasks == 1
    # alice|bob: (P,P)(N,N)(P,P)(N,P): po 3/4, pe = 2/4*3/4 + 2/4*1/4 = 1/2 -> 0.5
    assert _row(report, "text", "assertion_kappa", annotators="alice | bob").value == pytest.approx(0.5)
    # alice|carol: (P,P)(N,N)(P,N)(N,N): po 3/4, pe = 2/4*1/4 + 2/4*3/4 = 1/2 -> 0.5
    assert _row(report, "text", "assertion_kappa", annotators="alice | carol").value == pytest.approx(0.5)
    # bob|carol: (P,P)(N,N)(P,N)(P,N): po 2/4, pe = 3/4*1/4 + 1/4*3/4 = 3/8 -> (1/2-3/8)/(5/8) = 0.2
    assert _row(report, "text", "assertion_kappa", annotators="bob | carol").value == pytest.approx(0.2)
    # pooled over the 12 pairs: po = 8/12; first raters P 7 N 5, second raters P 5 N 7
    # pe = 7/12*5/12 + 5/12*7/12 = 70/144 -> (96/144 - 70/144) / (74/144) = 26/74
    pooled = _row(report, "text", "assertion_kappa")
    assert pooled.value == pytest.approx(26 / 74) and pooled.items == 12
    # every span matched exactly by every pair -> F1 1.0
    assert _row(report, "text", "span_f1_exact").value == pytest.approx(1.0)


def test_two_annotators_have_no_fleiss_row(text_store: Store) -> None:
    report = agreement_report(text_store, threshold=0.6)
    assert [r for r in report.rows if r.measure == "assertion_fleiss_kappa"] == []


def test_ecg_beat_f1_and_class_kappa(store: Store) -> None:
    _task(store, "e1", "ecg")
    alice = [(1.0, "N"), (2.0, "N"), (3.0, "V"), (4.0, "N"), (6.0, "V")]
    bob = [(1.1, "N"), (2.15, "N"), (3.0, "N"), (4.2, "N"), (6.1, "V")]
    _annotate(store, "e1", "alice", [TimeInstant(time_s=t, label=lab) for t, lab in alice])
    _annotate(store, "e1", "bob", [TimeInstant(time_s=t, label=lab) for t, lab in bob])
    report = agreement_report(store, threshold=0.6)
    assert report.multi_annotated == {"ecg": 1}
    # by position within 150 ms: 1.0-1.1, 2.0-2.15 (exactly 150 ms), 3.0-3.0, 6.0-6.1; 4.0-4.2 is 200 ms
    # -> 4 matches over 5 + 5 beats: 2*4/10 = 0.8
    row = _row(report, "ecg", "beat_f1")
    assert row.value == pytest.approx(0.8) and row.items == 10
    # mean |dt| = (0.1 + 0.15 + 0 + 0.1) / 4 = 0.0875
    assert _row(report, "ecg", "beat_time_diff_s").value == pytest.approx(0.0875)
    # classes of matched beats: (N,N) (N,N) (V,N) (V,V): po 3/4; alice N 2/4 V 2/4, bob N 3/4 V 1/4
    # pe = 2/4*3/4 + 2/4*1/4 = 1/2 -> kappa 0.5
    kappa = _row(report, "ecg", "beat_class_kappa")
    assert kappa.value == pytest.approx(0.5) and kappa.items == 4
    # per class, same class within 150 ms: N 2 matched of 3 + 4 -> 4/7; V 1 of 2 + 1 -> 2/3
    assert _row(report, "ecg", "beat_class_f1", "N").value == pytest.approx(4 / 7)
    assert _row(report, "ecg", "beat_class_f1", "V").value == pytest.approx(2 / 3)
    assert report.value("ecg", "beat_f1", annotators="alice | bob") == pytest.approx(0.8)


def test_eeg_event_f1_and_onset_difference(store: Store) -> None:
    _task(store, "g1", "eeg")
    alice = [(10, 20, "seizure"), (40, 50, "seizure"), (60, 65, "artifact")]
    bob = [(12, 22, "seizure"), (41, 49, "artifact"), (60, 66, "artifact"), (80, 90, "seizure")]
    _annotate(store, "g1", "alice", [TimeRange(start_s=a, end_s=b, label=lab) for a, b, lab in alice])
    _annotate(store, "g1", "bob", [TimeRange(start_s=a, end_s=b, label=lab) for a, b, lab in bob])
    report = agreement_report(store, threshold=0.6)
    # same label and overlapping: seizure [10,20]-[12,22], artifact [60,65]-[60,66]; [40,50] vs [41,49] differ in label
    # all: 2*2/(3+4) = 4/7; seizure 2*1/(2+2) = 0.5; artifact 2*1/(1+2) = 2/3
    assert _row(report, "eeg", "event_f1").value == pytest.approx(4 / 7)
    assert _row(report, "eeg", "event_f1", "seizure").value == pytest.approx(0.5)
    assert _row(report, "eeg", "event_f1", "artifact").value == pytest.approx(2 / 3)
    # onsets: seizure |10-12| = 2, artifact |60-60| = 0, mean 1
    assert _row(report, "eeg", "onset_diff_s", "seizure").value == pytest.approx(2.0)
    assert _row(report, "eeg", "onset_diff_s", "artifact").value == pytest.approx(0.0)
    overall = _row(report, "eeg", "onset_diff_s")
    assert overall.value == pytest.approx(1.0) and overall.items == 2
    assert {r.label for r in report.low()} == {"seizure", ALL_PAIRS}  # 0.5 and 4/7 < 0.6, artifact 2/3 is not


def _rect(x: float, y: float, w: float, h: float, label: str) -> Rectangle:
    return Rectangle(x=x, y=y, width=w, height=h, label=label, image_width=200, image_height=200)


def test_image_region_f1_iou_dice(store: Store) -> None:
    _task(store, "i1", "image")
    _annotate(store, "i1", "alice", [_rect(0, 0, 10, 10, "lesion"), _rect(50, 50, 10, 10, "nodule")])
    _annotate(store, "i1", "bob", [_rect(0, 0, 10, 8, "lesion"), _rect(50, 50, 10, 5.5, "nodule"), _rect(100, 100, 5, 5, "cyst")])
    report = agreement_report(store, threshold=0.6)
    # lesion IoU 80/100 = 0.8, nodule 55/100 = 0.55 (both >= 0.5: matched); cyst unmatched
    # all: 2*2/(2+3) = 0.8; lesion 1.0; nodule 1.0; cyst 0.0
    assert _row(report, "image", "region_f1").value == pytest.approx(0.8)
    assert _row(report, "image", "region_f1", "lesion").value == pytest.approx(1.0)
    assert _row(report, "image", "region_f1", "nodule").value == pytest.approx(1.0)
    assert _row(report, "image", "region_f1", "cyst").value == pytest.approx(0.0)
    assert _row(report, "image", "iou", "lesion").value == pytest.approx(0.8)
    assert _row(report, "image", "iou", "nodule").value == pytest.approx(0.55)
    # Dice = 2 IoU / (1 + IoU): 1.6/1.8 = 0.8889, 1.1/1.55 = 0.7097
    assert _row(report, "image", "dice", "lesion").value == pytest.approx(1.6 / 1.8)
    assert _row(report, "image", "dice", "nodule").value == pytest.approx(1.1 / 1.55)
    # iou 0.55 < 0.6 is descriptive, not a score: only region_f1 cyst is low
    assert "iou" not in SCORE_MEASURES
    assert {(r.measure, r.label) for r in report.low()} == {("region_f1", "cyst")}


def test_code_verdict_kappa_and_fleiss(store: Store) -> None:
    # mentions m1..m4 of task t1; A = accept I10, R = reject: alice A R A R, bob A R A A, carol A R R R
    votes = {"alice": "ARAR", "bob": "ARAA", "carol": "ARRR"}
    for who, vs in votes.items():
        for i, v in enumerate(vs):
            store.upsert_code_verdict(
                CodeVerdictIn(
                    task_id="t1", mention=f"m{i}", normalized_mention=f"m{i}", system="icd10cm",
                    code="I10" if v == "A" else "", coder=who, verdict="accept" if v == "A" else "reject",
                    source_annotation_id=f"{who}:{i}", taxonomy_version="tx",
                )
            )  # fmt: skip
    report = agreement_report(store, threshold=0.6)
    # same tables as the text Fleiss example: pairs 0.5, 0.5, 0.2; Fleiss 1/3
    assert _row(report, "codes", "verdict_kappa", "icd10cm", "alice | bob").value == pytest.approx(0.5)
    assert _row(report, "codes", "verdict_kappa", "icd10cm", "alice | carol").value == pytest.approx(0.5)
    assert _row(report, "codes", "verdict_kappa", "icd10cm", "bob | carol").value == pytest.approx(0.2)
    fleiss = _row(report, "codes", "verdict_fleiss_kappa", "icd10cm")
    assert fleiss.value == pytest.approx(1 / 3) and fleiss.items == 4
    assert agreement_report(store, modality="text", threshold=0.6).rows == []


def test_accepting_different_codes_is_a_disagreement(store: Store) -> None:
    for who, code in (("alice", "I10"), ("bob", "I11")):
        for i in range(2):
            store.upsert_code_verdict(
                CodeVerdictIn(
                    task_id="t1", mention=f"m{i}", normalized_mention=f"m{i}", system="icd10cm", code=code if i == 0 else "I20",
                    coder=who, verdict="accept", source_annotation_id=f"{who}:{i}", taxonomy_version="tx",
                )
            )  # fmt: skip
    report = agreement_report(store, threshold=0.6)
    # items: (accept:I10, accept:I11), (accept:I20, accept:I20): po 1/2;
    # alice I10 1/2 I20 1/2, bob I11 1/2 I20 1/2 -> pe = 1/4 -> (1/2 - 1/4)/(3/4) = 1/3
    assert _row(report, "codes", "verdict_kappa", "icd10cm", "alice | bob").value == pytest.approx(1 / 3)
