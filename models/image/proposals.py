"""A light box model on top of the cold-start proposals: class probabilities for every blob proposal.

:class:`~cliniloop.models.image.classical.BlobProposer` finds class-agnostic boxes with no labels. This model
gives each of them class probabilities over the training classes plus ``background``: per
proposal, shape and colour features (:func:`proposal_features`: width, height, area, area relative
to the image's median proposal, aspect, the proposer's score, mean and spread of R, G, B inside
the box and their mean in its centre half), then a scikit-learn gradient-boosted classifier
trained on the proposals of labelled images (a proposal matching a reference box at IoU >= 0.5
takes its class, any other is ``background``). A region's score is ``1 - P(background)`` (is it a
finding at all?), its label the most probable class, and its ``class_probs`` the class
distribution without background. It trains in seconds on a CPU, which makes it the shipped
default (:mod:`cliniloop.models.image.defaults`) and the learner of the image replay harness.

Files (:meth:`ProposalBoxClassifier.save`): ``proposals.json`` (classes, parameters, version, the
SHA-256 of the model file) and ``classifier.joblib`` (the scikit-learn estimator; load only files
this project wrote: the digest is checked before unpickling).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cliniloop.models.image.regions import Detections

BACKGROUND = "background"
META_FILE = "proposals.json"
MODEL_FILE = "classifier.joblib"
FORMAT_VERSION = 1
#: A region whose box overlaps a better-scored region of the same class this much (IoU) is a duplicate.
DUPLICATE_IOU = 0.5
#: ... or lies this much inside it (intersection over its own area): a nucleus inside its cell.
DUPLICATE_INSIDE = 0.8
#: Names of the :func:`proposal_features` columns.
FEATURES = (
    "width", "height", "area", "area_rel", "aspect", "score",
    "mean_r", "mean_g", "mean_b", "sd_r", "sd_g", "sd_b", "centre_r", "centre_g", "centre_b",
)  # fmt: skip


def proposal_features(rgb: NDArray[np.uint8], boxes: NDArray[np.float64], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(n, len(FEATURES))`` features of proposals ``boxes`` (``x0, y0, x1, y1`` px) on an ``(H, W, 3)`` image."""
    h, w = rgb.shape[:2]
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    rows = []
    med = float(np.median((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))) if len(boxes) else 1.0
    for (x0, y0, x1, y1), s in zip(boxes, np.asarray(scores, dtype=float), strict=True):
        a, b = int(max(0, np.floor(x0))), int(min(w, np.ceil(x1)))
        c, d = int(max(0, np.floor(y0))), int(min(h, np.ceil(y1)))
        patch = rgb[c : max(d, c + 1), a : max(b, a + 1)].reshape(-1, 3).astype(float)
        qa, qb = a + (b - a) // 4, b - (b - a) // 4
        qc, qd = c + (d - c) // 4, d - (d - c) // 4
        centre = rgb[qc : max(qd, qc + 1), qa : max(qb, qa + 1)].reshape(-1, 3).astype(float)
        bw, bh = x1 - x0, y1 - y0
        rows.append([bw, bh, bw * bh, bw * bh / max(med, 1.0), bw / max(bh, 1e-3), s, *patch.mean(0), *patch.std(0), *centre.mean(0)])
    return np.asarray(rows, dtype=float).reshape(len(boxes), len(FEATURES))


def iou_matrix(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pairwise box IoU ``(len(a), len(b))``."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def proposal_truth(boxes: NDArray[np.float64], ref_boxes: NDArray[np.float64], ref_labels: Sequence[str], iou: float = 0.5) -> list[str]:
    """The class of each proposal: that of its best-overlapping reference box at IoU >= ``iou``, else ``background``."""
    m = iou_matrix(boxes, ref_boxes)
    if not m.shape[1]:
        return [BACKGROUND] * len(m)
    best = m.argmax(axis=1)
    return [ref_labels[int(j)] if m[i, j] >= iou else BACKGROUND for i, j in enumerate(best)]


def distinct_regions(boxes: NDArray[np.float64], labels: Sequence[str]) -> NDArray[np.int64]:
    """Positions of the regions to keep, best first: drop a region of the same class as a better one
    that it overlaps (IoU >= :data:`DUPLICATE_IOU`) or lies inside (intersection over its own area
    >= :data:`DUPLICATE_INSIDE`).

    Parameters
    ----------
    boxes : ndarray, shape (n, 4)
        Boxes ``x0, y0, x1, y1`` in px, best first.
    labels : sequence of str
        Their classes.

    Returns
    -------
    ndarray of int
        Kept positions, in the input order.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) < 2:
        return np.arange(len(b), dtype=np.int64)
    iou = iou_matrix(b, b)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    inter = iou * (area[:, None] + area[None, :]) / (1.0 + iou)  # IoU = I / (A + B - I)
    inside = inter / area[:, None]  # [i, j]: share of box i inside box j
    kept: list[int] = []
    for i in range(len(b)):
        if not any(labels[j] == labels[i] and (iou[i, j] >= DUPLICATE_IOU or inside[i, j] >= DUPLICATE_INSIDE) for j in kept):
            kept.append(i)
    return np.asarray(kept, dtype=np.int64)


class ProposalBoxClassifier:
    """Blob proposals + a per-proposal class classifier (module docstring).

    Parameters
    ----------
    max_iter, learning_rate : number
        Boosting rounds and step of the gradient-boosted classifier.
    min_score : float
        Proposals whose ``1 - P(background)`` is below this are not returned (on BCCD ``val.txt``,
        0.3 halves the boxes an annotator must delete and makes the image uncertainty rank the
        images by their errors: Spearman 0.37, against 0.10 with every proposal shown).
    seed : int
        Random state (deterministic for a seed).
    """

    def __init__(self, *, max_iter: int = 100, learning_rate: float = 0.1, min_score: float = 0.3, seed: int = 0) -> None:
        self.max_iter = max_iter
        self.min_score = min_score
        self.learning_rate = learning_rate
        self.seed = seed
        self.classes_: tuple[str, ...] = ()
        self.model_: Any = None
        self.training_: dict[str, Any] = {}
        self._proposer: Any = None
        self._version: str | None = None

    @property
    def proposer(self) -> Any:
        """The cold-start :class:`~cliniloop.models.image.classical.BlobProposer` (built on first use)."""
        if self._proposer is None:
            from cliniloop.models.image.classical import BlobProposer

            self._proposer = BlobProposer().fit()
        return self._proposer

    def propose(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(boxes, features)`` of one image's cold-start proposals."""
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        det = self.proposer.predict(rgb)
        boxes = np.asarray(det.boxes, dtype=float).reshape(-1, 4)
        return boxes, proposal_features(rgb, boxes, np.asarray(det.scores, dtype=float))

    def fit_features(self, features: NDArray[np.float64], truth: Sequence[str], classes: Sequence[str] | None = None) -> ProposalBoxClassifier:
        """Train on proposal feature rows and their classes (``background`` included)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        y = np.asarray(list(truth))
        found = sorted(set(y.tolist()) - {BACKGROUND})
        self.classes_ = tuple(classes) if classes is not None else tuple(found)
        if len(set(y.tolist())) > 1:
            self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate, random_state=self.seed)
            self.model_.fit(np.asarray(features, dtype=float), y)
        else:
            self.model_ = str(y[0]) if len(y) else BACKGROUND  # one class seen: always that one
        self.training_ = {"proposals": int(len(y)), "counts": {c: int((y == c).sum()) for c in sorted(set(y.tolist()))}}
        self._version = None
        return self

    def fit(self, images: Sequence[NDArray[np.uint8]], targets: Sequence[Any]) -> ProposalBoxClassifier:
        """Train on images and their reference boxes (:class:`~cliniloop.services.core.targets.BoxTarget`-like: ``boxes``, ``labels``)."""
        feats, truth = [], []
        for image, target in zip(images, targets, strict=True):
            boxes, f = self.propose(image)
            feats.append(f)
            truth += proposal_truth(boxes, np.asarray(target.boxes, dtype=float), list(target.labels))
        classes = sorted({label for t in targets for label in t.labels})
        return self.fit_features(np.concatenate(feats) if feats else np.zeros((0, len(FEATURES))), truth, classes)

    def proba(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(n, C + 1)`` probabilities over ``classes_`` then ``background``."""
        order = [*self.classes_, BACKGROUND]
        out = np.zeros((len(features), len(order)))
        if not len(features):
            return out
        if isinstance(self.model_, str):
            out[:, order.index(self.model_) if self.model_ in order else -1] = 1.0
            return out
        p = self.model_.predict_proba(np.asarray(features, dtype=float))
        for j, c in enumerate(self.model_.classes_):
            if str(c) in order:
                out[:, order.index(str(c))] = p[:, j]
        return out

    def detections(self, boxes: NDArray[np.float64], features: NDArray[np.float64]) -> Detections:
        """Regions from proposals: score ``1 - P(background)``, label the most probable class, sorted by score,
        duplicates of a better region of the same class dropped (:func:`distinct_regions`).

        Only proposals scoring at least ``min_score`` are returned, unless none does (an image unlike
        the training images): then every proposal is, so the annotator still gets candidates and
        the image ranks as uncertain.
        """
        if self.model_ is None:
            raise RuntimeError("ProposalBoxClassifier is not fitted: call fit() or load()")
        p = self.proba(features)
        fg = p[:, :-1]
        score = 1.0 - p[:, -1]
        order = np.argsort(-score, kind="stable")
        kept = order[score[order] >= self.min_score]
        order = kept if len(kept) else order  # nothing passes (an unfamiliar image): show every proposal, all uncertain
        norm = fg / np.maximum(fg.sum(axis=1, keepdims=True), 1e-12)
        labels = [self.classes_[int(j)] for j in fg.argmax(axis=1)] if fg.shape[1] else [BACKGROUND] * len(fg)
        order = order[distinct_regions(boxes[order], [labels[i] for i in order])]
        return Detections(boxes[order], score[order], [labels[i] for i in order], norm[order], tuple(self.classes_))

    def predict(self, image: NDArray[np.uint8]) -> Detections:
        """Regions of one ``uint8`` image (grey or RGB)."""
        return self.detections(*self.propose(image))

    def predict_many(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """:meth:`predict` of each image."""
        return [self.predict(image) for image in images]

    # ------------------------------------------------------------------ persistence
    @property
    def version(self) -> str:
        """``proposals-<12 hex>`` of the classes, parameters and model (fixed when saved or loaded)."""
        import pickle

        if self._version is not None:
            return self._version
        h = hashlib.sha256(json.dumps([list(self.classes_), self.get_params()]).encode())
        h.update(pickle.dumps(self.model_))
        return f"proposals-{h.hexdigest()[:12]}"

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {"max_iter": self.max_iter, "learning_rate": self.learning_rate, "min_score": self.min_score, "seed": self.seed}

    def save(self, folder: Path) -> Path:
        """Write ``classifier.joblib`` and ``proposals.json`` into ``folder``; returns it."""
        import joblib

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model_, folder / MODEL_FILE)
        digest = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
        self._version = "proposals-" + hashlib.sha256(json.dumps([list(self.classes_), self.get_params(), digest]).encode()).hexdigest()[:12]
        meta = {
            "format": FORMAT_VERSION, "model": "proposal-classifier", "version": self.version, "classes": list(self.classes_),
            "features": list(FEATURES), "params": self.get_params(), "training": self.training_,
            "model_sha256": digest,
        }  # fmt: skip
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> ProposalBoxClassifier:
        """Read a model written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            Naming the missing file.
        ValueError
            When the format or features differ from this code's, or the model file does not match its digest.
        """
        import joblib

        folder = Path(folder)
        for name in (META_FILE, MODEL_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name}: missing proposal classifier file")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION or meta.get("features") != list(FEATURES):
            raise ValueError(f"{folder / META_FILE}: written for other proposal features or another format than this code's")
        if hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest() != meta.get("model_sha256"):
            raise ValueError(f"{folder / MODEL_FILE}: does not match the digest in {META_FILE} (modified or corrupt)")
        model = cls(**meta["params"])
        model.classes_ = tuple(meta["classes"])
        model.model_ = joblib.load(folder / MODEL_FILE)
        model.training_ = dict(meta.get("training", {}))
        model._version = str(meta["version"])
        return model
