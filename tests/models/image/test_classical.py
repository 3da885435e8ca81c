"""Cold-start proposers on drawn discs: every disc found once, boxes within a few px, blank = nothing."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk

from cliniloop.models.image.classical import BlobProposer, MaskProposer, nms
from cliniloop.models.image.metrics import box_iou
from cliniloop.models.image.regions import Detections
from cliniloop.services.core.targets import BoxTarget
from cliniloop.services.core.masks import mask_bbox

RADIUS = 12
#: (row, col) centres: five separated discs and two touching ones (23 px apart, radius 12)
CENTRES = [(30, 30), (30, 120), (30, 200), (100, 40), (170, 40), (120, 140), (120, 163)]


def _true_boxes(shape: tuple[int, int]) -> np.ndarray:
    boxes = []
    for c in CENTRES:
        m = np.zeros(shape, bool)
        m[disk(c, RADIUS, shape=shape)] = True
        boxes.append(mask_bbox(m))
    return np.array(boxes, dtype=float)


def _draw(background, foreground, shape=(200, 240)) -> tuple[np.ndarray, np.ndarray]:
    """Image with the discs of CENTRES and its true instance labels (1..7 in CENTRES order)."""
    full = shape + np.shape(background)
    img = np.empty(full, np.uint8)
    img[...] = background
    labels = np.zeros(shape, np.int32)
    for k, c in enumerate(CENTRES, start=1):
        rr, cc = disk(c, RADIUS, shape=shape)
        img[rr, cc] = foreground
        labels[rr, cc] = k
    return img, labels


STAINED = _draw((225, 225, 230), (180, 90, 110))  # pink cells on a light smear
FLUORESCENT = _draw(20, 200)  # bright nuclei on black, grey image
HE = _draw((235, 205, 220), (90, 50, 140))  # dark purple nuclei on pink


def _assert_discs_found(det: Detections, shape, tol_px: float) -> None:
    truth = _true_boxes(shape)
    assert isinstance(det, Detections)
    assert len(det) == len(det.scores) == len(det.boxes) == len(det.labels)
    assert np.all((det.scores >= 0) & (det.scores <= 1))
    assert np.all(np.diff(det.scores) <= 0), "regions must be sorted by descending score"
    # the best-scored regions are the seven discs, each once, boxes within tol_px
    top = det.boxes[: len(CENTRES)]
    iou = box_iou(top, truth)
    assert sorted(iou.argmax(axis=1).tolist()) == list(range(len(CENTRES)))
    for box, j in zip(top, iou.argmax(axis=1), strict=True):
        assert np.max(np.abs(box - truth[j])) <= tol_px, (box, truth[j])


# ---------------------------------------------------------------------------------- BlobProposer


@pytest.mark.parametrize("drawing", [STAINED, FLUORESCENT, HE], ids=["stained", "fluorescent", "he"])
def test_blob_proposer_finds_separated_and_touching_discs(drawing):
    img, _ = drawing
    det = BlobProposer().fit().predict(img)
    _assert_discs_found(det, img.shape[:2], tol_px=3.0)
    assert len(det) <= len(CENTRES) + 2
    assert set(det.labels) == {"region"} and det.instance_labels is None
    assert det.scores[: len(CENTRES)].min() > 0.5


def test_blob_proposer_blank_and_uniform_images_give_nothing():
    p = BlobProposer(label="cell")
    assert len(p.predict(np.full((120, 160, 3), 200, np.uint8))) == 0
    assert len(p.predict(np.zeros((50, 50), np.uint8))) == 0


def test_blob_proposer_size_range_and_label():
    img, _ = STAINED
    det = BlobProposer(label="cell", min_size_px=10, max_size_px=60).predict(img)
    assert len(det) >= len(CENTRES) and set(det.labels) == {"cell"}
    # single discs (25 px) are under a 40 px minimum; only the touching pair, unsplit, is not
    big = BlobProposer(min_size_px=40, max_size_px=200).predict(img)
    side = np.sqrt((big.boxes[:, 2] - big.boxes[:, 0]) * (big.boxes[:, 3] - big.boxes[:, 1]))
    assert len(big) <= 1 and np.all((side >= 40) & (side <= 200))
    assert len(BlobProposer(min_size_px=70, max_size_px=200).predict(img)) == 0


def test_blob_proposer_fit_calibrates_size_and_changes_version():
    p = BlobProposer()
    assert p.fit() is p and p.min_size_px_ is None and p.max_size_px_ is None
    v0 = p.version
    assert v0.startswith("blob-proposer-1-") and v0 == BlobProposer().fit().version
    targets = [BoxTarget(np.array([[0, 0, 20, 20], [0, 0, 30, 30], [10, 10, 50, 50]], float), ["a"] * 3)]
    p.fit(targets=targets)
    assert 15 < p.min_size_px_ < 20 and 40 < p.max_size_px_ < 60
    assert p.version != v0
    assert BlobProposer(nms_iou=0.5).version != BlobProposer().version


def test_blob_proposer_predict_many_and_input_checks():
    img, _ = STAINED
    out = BlobProposer().predict_many([img, np.full((60, 60, 3), 255, np.uint8)])
    assert len(out) == 2 and len(out[0]) >= len(CENTRES) and len(out[1]) == 0
    with pytest.raises(ValueError):
        BlobProposer().predict(img.astype(np.float32))
    with pytest.raises(ValueError):
        BlobProposer().predict(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError):
        BlobProposer(thresholds=()).fit()
    with pytest.raises(ValueError):
        BlobProposer(min_size_px=50, max_size_px=20).fit()


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], float)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7]), 0.5)
    assert keep.tolist() == [1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


# ---------------------------------------------------------------------------------- MaskProposer


@pytest.mark.parametrize("drawing", [FLUORESCENT, HE, STAINED], ids=["fluorescent", "he", "stained"])
def test_mask_proposer_splits_touching_nuclei_into_masks(drawing):
    img, truth = drawing
    det = MaskProposer().fit().predict(img)
    assert len(det) == len(CENTRES)
    _assert_discs_found(det, img.shape[:2], tol_px=2.0)
    lab = det.instance_labels
    assert lab is not None and lab.dtype == np.int32 and lab.shape == img.shape[:2]
    assert set(np.unique(lab).tolist()) == set(range(len(CENTRES) + 1))
    for k in range(len(det)):
        mask = lab == k + 1
        assert mask_bbox(mask) == tuple(det.boxes[k])  # region k is instance_labels == k + 1
        t = truth[mask]
        j = np.bincount(t).argmax()
        assert j > 0
        iou = (mask & (truth == j)).sum() / (mask | (truth == j)).sum()
        assert iou > 0.8
    assert set(det.labels) == {"nucleus"}
    assert np.all((det.scores >= 0) & (det.scores <= 1)) and np.all(np.diff(det.scores) <= 0)
    assert det.scores.min() > 0.8


def test_mask_proposer_blank_image_and_polarity_override():
    p = MaskProposer()
    for blank in (np.zeros((64, 64), np.uint8), np.full((64, 64, 3), 180, np.uint8)):
        det = p.predict(blank)
        assert len(det) == 0 and det.instance_labels is not None and not det.instance_labels.any()
    img, _ = FLUORESCENT
    # told that objects are dark, it segments the background instead of the seven nuclei
    assert len(MaskProposer(polarity="dark").predict(img)) != len(CENTRES)
    assert len(MaskProposer(polarity="bright").predict(img)) == len(CENTRES)


def test_mask_proposer_fit_calibrates_min_area_and_version():
    p = MaskProposer()
    assert p.fit() is p and p.min_area_px_ is None
    v0 = p.version
    assert v0.startswith("mask-proposer-1-")
    _, truth = FLUORESCENT
    p.fit(targets=[BoxTarget(np.zeros((0, 4)), [], instance_labels=truth)])
    assert p.min_area_px_ == pytest.approx(0.5 * np.bincount(truth.ravel())[1:].min(), rel=0.05)
    assert p.version != v0
    # a minimum area above the nuclei's removes them all
    assert len(MaskProposer(min_area_px=1000).predict(FLUORESCENT[0])) == 0
    with pytest.raises(ValueError):
        MaskProposer(polarity="sideways").fit()
    assert len(MaskProposer().predict_many([FLUORESCENT[0], HE[0]])) == 2
