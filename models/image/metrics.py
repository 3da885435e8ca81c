"""Evaluation of image proposals: box average precision and instance-mask matching.

Used by ``cliniloop eval image-boxes`` (:func:`evaluate_boxes`) and ``cliniloop eval image-masks``
(:func:`evaluate_instances`). Boxes follow the pixel-edge convention of
:mod:`cliniloop.models.image.regions`: ``(x0, y0, x1, y1)`` covers ``x0 <= x < x1``, ``y0 <= y < y1``, so a
box's area is ``(x1 - x0) * (y1 - y0)`` px² (no ``+ 1``).

Box AP (:func:`evaluate_boxes`)
-------------------------------
Pascal VOC 2010+ average precision, per class:

1. The class's predictions of all images are sorted by descending score (a stable sort: ties
   keep the order of ``predictions``, then of the boxes within an image).
2. Each prediction in turn is matched to the ground-truth box of its class in the same image
   with the highest IoU among the *unmatched* non-difficult boxes and all ``difficult`` boxes.
   If that IoU is ``>= iou_threshold``: a non-difficult box becomes matched and the prediction
   is a true positive; a ``difficult`` box leaves the prediction *ignored* (neither TP nor FP,
   as in the VOC devkit; a difficult box may absorb several predictions). Otherwise the
   prediction is a false positive. (The devkit matches to the highest-IoU box even when it is
   already matched and then counts a duplicate FP; matching to the best *unmatched* box, as
   asked of this project, differs only when two ground-truth boxes overlap a prediction.)
3. ``AP`` is the area under the monotone precision envelope of the precision/recall curve
   (all-point interpolation: precision at recall ``r`` is the best precision at any recall
   ``>= r``), recall being over the class's non-difficult boxes. Difficult boxes are never
   false negatives.

``map`` is the mean AP over the reported classes that have at least one non-difficult
ground-truth box; a class without ground truth is reported (AP 0, and its ``n_pred``) but not
averaged, so a model is neither rewarded nor punished for a class the data set cannot test.
With no such class at all, ``map`` is 0.

Class-agnostic figures ignore labels and use every prediction and every ground-truth box, also
of classes left out of ``classes``: ``class_agnostic_ap`` is the AP above with all boxes in one
class, and ``class_agnostic_recall`` is *proposal recall*: the fraction of non-difficult
ground-truth boxes that at least one prediction (any score, no one-to-one matching) overlaps
with IoU ``>= iou_threshold``.

Instance masks (:func:`evaluate_instances`)
-------------------------------------------
Predicted and true instance label images (0 = background) of each image are matched one-to-one
(Hungarian assignment maximising the summed IoU over pairs with mask IoU ``>= iou_threshold``;
for thresholds ``>= 0.5`` such a pair is unique, so this equals greedy matching). IoUs come
from the sparse contingency table of the two label images (one pass over the pixels), never
from per-pair masks. Matched pairs are TPs, unmatched predictions FPs and unmatched true
instances FNs, summed over images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from cliniloop.models.image.regions import Detections
from cliniloop.services.core.targets import BoxTarget


def box_iou(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """Intersection over union of every pair of pixel-edge boxes.

    Parameters
    ----------
    a : array_like, shape (N, 4)
        Boxes ``x0, y0, x1, y1`` in px.
    b : array_like, shape (M, 4)
        Boxes ``x0, y0, x1, y1`` in px.

    Returns
    -------
    ndarray, shape (N, M)
        IoU in ``[0, 1]``; 0 for a pair whose union is empty (two zero-area boxes).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class BoxMetrics:
    """Box detection quality over a set of images (see the module docstring).

    Attributes
    ----------
    per_class_ap : dict of str to float
        VOC all-point AP of each reported class (0 for a class without ground truth).
    map : float
        Mean of ``per_class_ap`` over the classes with ground truth.
    n_gt : dict of str to int
        Non-difficult ground-truth boxes per reported class.
    n_pred : dict of str to int
        Predictions per reported class.
    class_agnostic_ap : float
        AP with labels ignored.
    class_agnostic_recall : float
        Fraction of non-difficult ground-truth boxes overlapped by some prediction.
    iou_threshold : float
        IoU at which a prediction matches a ground-truth box.
    """

    per_class_ap: dict[str, float]
    map: float
    n_gt: dict[str, int]
    n_pred: dict[str, int]
    class_agnostic_ap: float
    class_agnostic_recall: float
    iou_threshold: float

    def as_dict(self) -> dict:
        """Plain JSON-serialisable dict of the fields."""
        return asdict(self)


@dataclass(frozen=True)
class InstanceMetrics:
    """Instance-mask matching quality over a set of images (see the module docstring).

    Attributes
    ----------
    tp, fp, fn : int
        Matched pairs, unmatched predictions, unmatched true instances.
    precision, recall, f1 : float
        ``tp / (tp + fp)``, ``tp / (tp + fn)`` and their harmonic mean; 0 where the denominator
        is 0, except that all three are 1 when there is neither a prediction nor a true instance.
    mean_matched_iou : float
        Mean mask IoU of the matched pairs (0 without matches).
    iou_threshold : float
        Mask IoU at which a pair may match.
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_matched_iou: float
    iou_threshold: float

    def as_dict(self) -> dict:
        """Plain JSON-serialisable dict of the fields."""
        return asdict(self)


# ---------------------------------------------------------------------------------- boxes


def _voc_ap(tp: NDArray[np.bool_], ignored: NDArray[np.bool_], n_gt: int) -> float:
    """All-point interpolated AP from score-sorted TP flags (ignored predictions dropped)."""
    if n_gt == 0:
        return 0.0
    tp = tp[~ignored]
    if tp.size == 0:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, tp.size + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def _match_class(
    preds: list[tuple[NDArray, NDArray]], gts: list[tuple[NDArray, NDArray]], iou_threshold: float
) -> tuple[float, int]:
    """AP and non-difficult gt count of one class.

    ``preds[i] = (boxes (n, 4), scores (n,))`` and ``gts[i] = (boxes (m, 4), difficult (m,))``
    of image ``i``.
    """
    n_gt = int(sum(int((~d).sum()) for _, d in gts))
    none = [np.zeros(0, np.int64)]
    image_of = np.concatenate([np.full(len(s), i, dtype=np.int64) for i, (_, s) in enumerate(preds)] + none)
    index_in = np.concatenate([np.arange(len(s)) for _, s in preds] + none)
    scores = np.concatenate([s for _, s in preds] + [np.zeros(0)])
    order = np.argsort(-scores, kind="stable")
    ious = [box_iou(pb, gb) for (pb, _), (gb, _) in zip(preds, gts, strict=True)]
    matched = [np.zeros(len(d), dtype=bool) for _, d in gts]
    tp = np.zeros(order.size, dtype=bool)
    ignored = np.zeros(order.size, dtype=bool)
    for rank, k in enumerate(order):
        img, j = image_of[k], index_in[k]
        difficult = gts[img][1]
        if difficult.size == 0:
            continue
        candidate = np.where(difficult | ~matched[img], ious[img][j], -1.0)
        best = int(np.argmax(candidate))
        if candidate[best] < iou_threshold:
            continue
        if difficult[best]:
            ignored[rank] = True
        else:
            matched[img][best] = True
            tp[rank] = True
    return _voc_ap(tp, ignored, n_gt), n_gt


def _difficult(target: BoxTarget) -> NDArray[np.bool_]:
    n = len(target.labels)
    if target.difficult is None:
        return np.zeros(n, dtype=bool)
    d = np.asarray(target.difficult, dtype=bool).reshape(-1)
    if d.size != n:
        raise ValueError(f"difficult has {d.size} flags for {n} boxes")
    return d


def evaluate_boxes(
    predictions: Sequence[Detections],
    targets: Sequence[BoxTarget],
    *,
    iou_threshold: float = 0.5,
    classes: Sequence[str] | None = None,
) -> BoxMetrics:
    """Pascal VOC (2010+, all-point) AP per class, mAP and class-agnostic AP and recall.

    Parameters
    ----------
    predictions : sequence of Detections
        Proposals of each image (``boxes`` in px, ``scores``, ``labels``).
    targets : sequence of BoxTarget
        Ground truth of the same images, in the same order.
    iou_threshold : float
        Box IoU at which a prediction matches a ground-truth box, in (0, 1].
    classes : sequence of str, optional
        Classes to report (and average over, those with ground truth); predictions and ground
        truth of other classes are left out of the per-class figures. Default: every label
        seen in ``targets`` or ``predictions``, sorted.

    Returns
    -------
    BoxMetrics

    Raises
    ------
    ValueError
        When the two sequences differ in length, ``iou_threshold`` is outside (0, 1], or a
        target's ``difficult`` flags do not match its boxes.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    pred_boxes = [np.asarray(p.boxes, dtype=np.float64).reshape(-1, 4) for p in predictions]
    pred_scores = [np.asarray(p.scores, dtype=np.float64).reshape(-1) for p in predictions]
    pred_labels = [np.asarray(list(p.labels), dtype=object) for p in predictions]
    gt_boxes = [np.asarray(t.boxes, dtype=np.float64).reshape(-1, 4) for t in targets]
    gt_labels = [np.asarray(list(t.labels), dtype=object) for t in targets]
    gt_difficult = [_difficult(t) for t in targets]
    if classes is None:
        seen = {str(c) for labels in pred_labels + gt_labels for c in labels}
        classes = sorted(seen)

    per_class_ap: dict[str, float] = {}
    n_gt: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    for cls in classes:
        preds = [(b[lab == cls], s[lab == cls]) for b, s, lab in zip(pred_boxes, pred_scores, pred_labels, strict=True)]
        gts = [(b[lab == cls], d[lab == cls]) for b, d, lab in zip(gt_boxes, gt_difficult, gt_labels, strict=True)]
        per_class_ap[cls], n_gt[cls] = _match_class(preds, gts, iou_threshold)
        n_pred[cls] = int(sum(len(s) for _, s in preds))
    with_gt = [per_class_ap[c] for c in classes if n_gt[c] > 0]
    mean_ap = float(np.mean(with_gt)) if with_gt else 0.0

    agnostic_ap, agnostic_gt = _match_class(
        list(zip(pred_boxes, pred_scores, strict=True)), list(zip(gt_boxes, gt_difficult, strict=True)), iou_threshold
    )
    covered = 0
    for pb, gb, d in zip(pred_boxes, gt_boxes, gt_difficult, strict=True):
        if len(pb) and len(gb):
            hit = (box_iou(pb, gb) >= iou_threshold).any(axis=0)
            covered += int((hit & ~d).sum())
    recall = covered / agnostic_gt if agnostic_gt else 0.0
    return BoxMetrics(
        per_class_ap=per_class_ap,
        map=mean_ap,
        n_gt=n_gt,
        n_pred=n_pred,
        class_agnostic_ap=agnostic_ap,
        class_agnostic_recall=float(recall),
        iou_threshold=float(iou_threshold),
    )


# ---------------------------------------------------------------------------------- masks


def _instance_pairs(
    pred: NDArray, true: NDArray
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], int, int]:
    """Overlapping (pred, true) instance pairs and their IoU, from the sparse contingency table.

    Returns ``(pred index, true index, IoU, n_pred, n_true)``; indices count instances from 0 in
    increasing label order.
    """
    _, p = np.unique(pred.ravel(), return_inverse=True)
    _, t = np.unique(true.ravel(), return_inverse=True)
    # index 0 must be the background whether or not the image has any
    if pred.size and pred.min() > 0:
        p = p + 1
    if true.size and true.min() > 0:
        t = t + 1
    n_p = int(p.max()) if p.size else 0
    n_t = int(t.max()) if t.size else 0
    area_p = np.bincount(p, minlength=n_p + 1)
    area_t = np.bincount(t, minlength=n_t + 1)
    both = (p > 0) & (t > 0)
    codes, inter = np.unique(p[both].astype(np.int64) * (n_t + 1) + t[both], return_counts=True)
    pi, ti = codes // (n_t + 1), codes % (n_t + 1)
    iou = inter / (area_p[pi] + area_t[ti] - inter)
    return pi - 1, ti - 1, iou, n_p, n_t


def evaluate_instances(
    predicted: Sequence[NDArray[np.int32]],
    truth: Sequence[NDArray[np.int32]],
    *,
    iou_threshold: float = 0.5,
) -> InstanceMetrics:
    """One-to-one matching of predicted and true instance masks at mask IoU >= threshold.

    Parameters
    ----------
    predicted : sequence of ndarray of int, shape (H, W)
        Predicted instance label image of each image (0 = background, any positive ids).
    truth : sequence of ndarray of int, shape (H, W)
        True instance label images, same order and shapes.
    iou_threshold : float
        Mask IoU at which a pair may match, in (0, 1].

    Returns
    -------
    InstanceMetrics

    Raises
    ------
    ValueError
        When the sequences differ in length, an image pair differs in shape, or
        ``iou_threshold`` is outside (0, 1].
    """
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted label images for {len(truth)} true ones")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    tp = fp = fn = 0
    matched_iou: list[NDArray[np.float64]] = []
    for pred, true in zip(predicted, truth, strict=True):
        pred, true = np.asarray(pred), np.asarray(true)
        if pred.shape != true.shape:
            raise ValueError(f"predicted labels {pred.shape} and true labels {true.shape} differ in shape")
        if np.any(pred < 0) or np.any(true < 0):
            raise ValueError("instance labels must be >= 0")
        pi, ti, iou, n_pred, n_true = _instance_pairs(pred, true)
        ok = iou >= iou_threshold
        pi, ti, iou = pi[ok], ti[ok], iou[ok]
        n_match = 0
        if iou.size:
            rows, r_idx = np.unique(pi, return_inverse=True)
            cols, c_idx = np.unique(ti, return_inverse=True)
            sub = np.zeros((rows.size, cols.size))
            sub[r_idx, c_idx] = iou
            r, c = linear_sum_assignment(sub, maximize=True)
            keep = sub[r, c] >= iou_threshold
            n_match = int(keep.sum())
            matched_iou.append(sub[r, c][keep])
        tp += n_match
        fp += n_pred - n_match
        fn += n_true - n_match
    if tp + fp + fn == 0:
        precision = recall = f1 = 1.0
    else:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ious = np.concatenate(matched_iou) if matched_iou else np.zeros(0)
    return InstanceMetrics(
        tp=tp,
        fp=fp,
        fn=fn,
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        mean_matched_iou=float(ious.mean()) if ious.size else 0.0,
        iou_threshold=float(iou_threshold),
    )
