"""The proposal classifier: classes from the training boxes, background for unboxed blobs, files round-trip and are checked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cliniloop.models.image.proposals import BACKGROUND, ProposalBoxClassifier, iou_matrix, proposal_truth


def _image(seed: int) -> tuple[np.ndarray, SimpleNamespace]:
    """Light field with dark-red discs (boxed 'red') and big purple discs (boxed 'purple')."""
    rng = np.random.default_rng(seed)
    img = np.full((120, 160, 3), 235, np.uint8)
    yy, xx = np.mgrid[:120, :160]
    boxes, labels = [], []
    for k, (cx, cy) in enumerate([(30, 30), (90, 30), (130, 90), (40, 90)]):
        cx, cy = cx + int(rng.integers(-3, 4)), cy + int(rng.integers(-3, 4))
        big = k % 2 == 1
        r = 16 if big else 9
        img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = (120, 40, 160) if big else (170, 40, 40)
        boxes.append([cx - r, cy - r, cx + r + 1, cy + r + 1])
        labels.append("purple" if big else "red")
    return img, SimpleNamespace(boxes=np.array(boxes, float), labels=labels)


def test_truth_matching_and_iou() -> None:
    a = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    b = np.array([[0, 0, 10, 12]], float)
    assert iou_matrix(a, b)[0, 0] == pytest.approx(100 / 120)
    assert proposal_truth(a, b, ["red"]) == ["red", BACKGROUND]


def test_fit_predict_and_round_trip(tmp_path: Path) -> None:
    data = [_image(s) for s in range(4)]
    model = ProposalBoxClassifier(max_iter=10).fit([d[0] for d in data], [d[1] for d in data])
    assert model.classes_ == ("purple", "red")
    det = model.predict(_image(9)[0])
    assert len(det) and set(det.labels) <= {"purple", "red"} and det.class_probs.shape[1] == 2
    assert np.all(np.diff(det.scores) <= 1e-12), "regions sorted by score"
    model.save(tmp_path / "m")
    again = ProposalBoxClassifier.load(tmp_path / "m")
    assert again.version == model.version
    assert np.allclose(again.predict(_image(9)[0]).scores, det.scores)
    (tmp_path / "m" / "classifier.joblib").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="digest"):
        ProposalBoxClassifier.load(tmp_path / "m")


def test_duplicates_of_a_better_region_of_the_same_class_are_dropped() -> None:
    from cliniloop.models.image.proposals import distinct_regions

    boxes = np.array([
        [0, 0, 100, 100],    # a WBC
        [30, 30, 70, 70],    # its nucleus, all inside it, same class: dropped
        [5, 5, 100, 100],    # nearly the same box, same class: dropped (IoU 0.9)
        [30, 30, 70, 70],    # the same place but another class: kept
        [90, 0, 190, 100],   # a touching neighbour of the same class (IoU 0.05): kept
    ], dtype=float)  # fmt: skip
    labels = ["WBC", "WBC", "WBC", "Platelets", "WBC"]
    assert distinct_regions(boxes, labels).tolist() == [0, 3, 4]
    assert distinct_regions(boxes[:1], labels[:1]).tolist() == [0]
    assert distinct_regions(np.zeros((0, 4)), []).tolist() == []
