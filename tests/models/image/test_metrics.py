"""Box AP (hand-computed VOC example, difficult boxes, classes) and instance-mask matching."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.image.metrics import BoxMetrics, InstanceMetrics, box_iou, evaluate_boxes, evaluate_instances
from cliniloop.models.image.regions import Detections
from cliniloop.services.core.targets import BoxTarget


def _det(boxes, scores, labels) -> Detections:
    return Detections(np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(scores, dtype=float), list(labels))


def _gt(boxes, labels, difficult=None) -> BoxTarget:
    d = None if difficult is None else np.asarray(difficult, dtype=bool)
    return BoxTarget(np.asarray(boxes, dtype=float).reshape(-1, 4), list(labels), d)


# ---------------------------------------------------------------------------------- box_iou


def test_box_iou_pixel_edge_areas():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 4)
    np.testing.assert_allclose(iou[0], [50 / 150, 1.0, 0.0, 25 / 100])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)
    # zero-area boxes have IoU 0, not NaN
    assert box_iou([[3, 3, 3, 3]], [[3, 3, 3, 3]])[0, 0] == 0.0


# ---------------------------------------------------------------------------------- AP


GTS = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]


def test_hand_computed_all_point_ap():
    # scores 0.9 TP, 0.8 FP, 0.7 TP, 0.6 FP over 3 gt boxes:
    # recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2
    # envelope: 1 up to recall 1/3, 2/3 up to 2/3, 0 beyond -> AP = 1/3 + 1/3 * 2/3 = 5/9
    pred = _det([[0, 0, 10, 10], [60, 0, 70, 10], [20, 0, 30, 10], [80, 0, 90, 10]], [0.9, 0.8, 0.7, 0.6], "aaaa")
    m = evaluate_boxes([pred], [_gt(GTS, "aaa")])
    assert isinstance(m, BoxMetrics)
    assert m.per_class_ap["a"] == pytest.approx(5 / 9)
    assert m.map == pytest.approx(5 / 9)
    assert m.n_gt == {"a": 3} and m.n_pred == {"a": 4}
    # order of the input does not matter, only the scores
    shuffled = _det(pred.boxes[::-1], pred.scores[::-1], pred.labels[::-1])
    assert evaluate_boxes([shuffled], [_gt(GTS, "aaa")]).per_class_ap["a"] == pytest.approx(5 / 9)


def test_perfect_prediction_ap_one_and_iou_threshold():
    pred = _det(GTS, [0.9, 0.8, 0.7], "aaa")
    assert evaluate_boxes([pred], [_gt(GTS, "aaa")]).map == pytest.approx(1.0)
    # a box shifted by 4 px: IoU 6/14 = 0.43, a miss at 0.5, a hit at 0.4
    shifted = _det([[4, 0, 14, 10]], [0.9], "a")
    assert evaluate_boxes([shifted], [_gt(GTS[:1], "a")]).map == 0.0
    assert evaluate_boxes([shifted], [_gt(GTS[:1], "a")], iou_threshold=0.4).map == pytest.approx(1.0)


def test_duplicate_is_false_positive_and_matching_stays_in_its_image():
    dup = _det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], "aa")
    m = evaluate_boxes([dup], [_gt(GTS[:1], "a")])
    assert m.per_class_ap["a"] == pytest.approx(1.0)  # the FP comes after full recall
    late = _det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.8, 0.9], "aa")
    assert evaluate_boxes([late], [_gt(GTS[:1], "a")]).per_class_ap["a"] == pytest.approx(1.0)
    # a box right for image 0 given for image 1 matches nothing
    m2 = evaluate_boxes([_det([], [], ""), _det([[0, 0, 10, 10]], [0.9], "a")], [_gt(GTS[:1], "a"), _gt([], "")])
    assert m2.per_class_ap["a"] == 0.0 and m2.class_agnostic_recall == 0.0


def test_difficult_boxes_neither_tp_nor_fn():
    gt = _gt([[0, 0, 10, 10], [20, 0, 30, 10]], "aa", difficult=[False, True])
    # the higher-scored prediction hits the difficult box: ignored, not an FP -> AP 1
    pred = _det([[20, 0, 30, 10], [0, 0, 10, 10]], [0.9, 0.8], "aa")
    m = evaluate_boxes([pred], [gt])
    assert m.per_class_ap["a"] == pytest.approx(1.0)
    assert m.n_gt == {"a": 1}
    # without the flag the same predictions are perfect too, but two boxes are counted ...
    assert evaluate_boxes([pred], [_gt(gt.boxes, "aa")]).n_gt == {"a": 2}
    # ... and missing the difficult box costs nothing, missing the normal one does
    only_normal = _det([[0, 0, 10, 10]], [0.9], "a")
    assert evaluate_boxes([only_normal], [gt]).per_class_ap["a"] == pytest.approx(1.0)
    assert evaluate_boxes([only_normal], [_gt(gt.boxes, "aa")]).per_class_ap["a"] == pytest.approx(0.5)
    only_difficult = _det([[20, 0, 30, 10]], [0.9], "a")
    m3 = evaluate_boxes([only_difficult], [gt])
    assert m3.per_class_ap["a"] == 0.0 and m3.class_agnostic_recall == 0.0
    # a box matching the difficult box ahead of an FP would otherwise lower precision
    with_fp = _det([[20, 0, 30, 10], [60, 0, 70, 10], [0, 0, 10, 10]], [0.9, 0.8, 0.7], "aaa")
    assert evaluate_boxes([with_fp], [gt]).per_class_ap["a"] == pytest.approx(0.5)


def test_classes_reported_but_only_those_with_gt_averaged():
    gt = _gt([[0, 0, 10, 10], [20, 0, 30, 10]], ["RBC", "WBC"])
    pred = _det([[0, 0, 10, 10], [20, 0, 30, 10], [60, 0, 70, 10]], [0.9, 0.8, 0.7], ["RBC", "RBC", "Platelets"])
    m = evaluate_boxes([pred], [gt])
    assert set(m.per_class_ap) == {"RBC", "WBC", "Platelets"}
    assert m.per_class_ap == pytest.approx({"RBC": 1.0, "WBC": 0.0, "Platelets": 0.0})
    assert m.n_gt["Platelets"] == 0 and m.n_pred["Platelets"] == 1
    assert m.map == pytest.approx(0.5)  # mean of RBC and WBC; Platelets has no gt
    # classes= picks what is reported (and averaged, among those with gt)
    m2 = evaluate_boxes([pred], [gt], classes=["RBC", "Platelets", "Eosinophil"])
    assert list(m2.per_class_ap) == ["RBC", "Platelets", "Eosinophil"]
    assert m2.map == pytest.approx(1.0)
    assert m2.n_pred["Eosinophil"] == 0 and m2.per_class_ap["Eosinophil"] == 0.0


def test_class_agnostic_ignores_labels_and_recall_counts_any_prediction():
    gt = _gt(GTS + [[60, 0, 70, 10]], "aaab")
    # right places, wrong labels, one box missed; a low-scored duplicate too
    pred = _det([[0, 0, 10, 10], [20, 0, 30, 10], [60, 0, 70, 10], [0, 0, 10, 10]], [0.9, 0.8, 0.01, 0.5], "bbax")
    m = evaluate_boxes([pred], [gt])
    assert m.per_class_ap["a"] == 0.0 and m.per_class_ap["b"] == 0.0
    assert m.class_agnostic_recall == pytest.approx(3 / 4)
    # agnostic: TP, TP, FP (duplicate at 0.5), TP at 0.01 -> recall steps 1/4, 2/4, 3/4
    assert m.class_agnostic_ap == pytest.approx(0.25 + 0.25 + 0.25 * 3 / 4)
    d = m.as_dict()
    assert d["class_agnostic_recall"] == pytest.approx(0.75) and d["iou_threshold"] == 0.5


def test_evaluate_boxes_rejects_bad_input():
    with pytest.raises(ValueError):
        evaluate_boxes([_det([], [], "")], [])
    with pytest.raises(ValueError):
        evaluate_boxes([_det([], [], "")], [_gt([], "")], iou_threshold=0.0)
    with pytest.raises(ValueError):
        evaluate_boxes([_det([], [], "")], [_gt(GTS, "aaa", difficult=[True])])


# ---------------------------------------------------------------------------------- instances


def _split_and_merge() -> tuple[np.ndarray, np.ndarray]:
    """Truth A (100 px), B (60 px), C (40 px); prediction splits A 70/30 and merges B + C."""
    truth = np.zeros((40, 20), dtype=np.uint16)
    truth[0:10, 0:10] = 7  # A
    truth[20:30, 0:6] = 300  # B
    truth[20:30, 6:10] = 12  # C
    pred = np.zeros((40, 20), dtype=np.int32)
    pred[0:10, 0:7] = 1  # IoU 0.7 with A
    pred[0:10, 7:10] = 2  # IoU 0.3 with A
    pred[20:30, 0:10] = 3  # IoU 0.6 with B, 0.4 with C
    return pred, truth


def test_instance_f1_with_a_split_and_a_merged_nucleus():
    pred, truth = _split_and_merge()
    m = evaluate_instances([pred], [truth])
    assert isinstance(m, InstanceMetrics)
    assert (m.tp, m.fp, m.fn) == (2, 1, 1)
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(2 / 3) and m.f1 == pytest.approx(2 / 3)
    assert m.mean_matched_iou == pytest.approx(0.65)
    # one-to-one even when a low threshold lets several pairs qualify
    low = evaluate_instances([pred], [truth], iou_threshold=0.3)
    assert (low.tp, low.fp, low.fn) == (2, 1, 1)
    high = evaluate_instances([pred], [truth], iou_threshold=0.75)
    assert (high.tp, high.fp, high.fn) == (0, 3, 3) and high.f1 == 0.0


def test_instances_perfect_empty_and_summed_over_images():
    pred, truth = _split_and_merge()
    assert evaluate_instances([truth.astype(np.int32)], [truth]).f1 == 1.0
    none = evaluate_instances([np.zeros_like(pred)], [truth])
    assert (none.tp, none.fp, none.fn, none.precision, none.recall) == (0, 0, 3, 0.0, 0.0)
    both_empty = evaluate_instances([np.zeros((5, 5), np.int32)], [np.zeros((5, 5), np.int32)])
    assert both_empty.f1 == 1.0
    two = evaluate_instances([pred, truth.astype(np.int32)], [truth, truth])
    assert (two.tp, two.fp, two.fn) == (5, 1, 1)
    # every pixel labelled (no background)
    full = np.ones((4, 4), np.int32)
    assert evaluate_instances([full], [full * 5]).tp == 1


def test_instances_many_nuclei_shifted_by_one_pixel():
    truth = np.zeros((400, 400), np.int32)
    k = 0
    for y in range(0, 400, 20):
        for x in range(0, 400, 20):
            k += 1
            truth[y + 2 : y + 16, x + 2 : x + 16] = k
    pred = np.roll(truth, 1, axis=1) * 3  # other ids, shifted by 1 px: IoU 13/15
    m = evaluate_instances([pred], [truth])
    assert k == 400 and (m.tp, m.fp, m.fn) == (400, 0, 0)
    assert m.mean_matched_iou == pytest.approx(13 * 14 / (15 * 14))


def test_evaluate_instances_rejects_bad_input():
    with pytest.raises(ValueError):
        evaluate_instances([np.zeros((3, 3), np.int32)], [np.zeros((3, 4), np.int32)])
    with pytest.raises(ValueError):
        evaluate_instances([np.zeros((3, 3), np.int32)], [])
    with pytest.raises(ValueError):
        evaluate_instances([np.zeros((3, 3), np.int32)], [np.zeros((3, 3), np.int32)], iou_threshold=1.5)
