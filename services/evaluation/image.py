"""``cliniloop eval image-boxes`` and ``eval image-masks``: accuracy and speed of the image proposers.

Both evaluate the cold-start proposer and the trained model on the same images in one run, so
their figures sit side by side. The trained model is, in order: one trained in this run on
``train`` ids (``--train-ids`` / ``--train-split``), a saved model folder (``--model``), or the
promoted version in the registry; without any, only the cold-start figures are printed.

dsb2018-style mask sets have no official split: ``held_back_ids`` defines ours, the image ids with
``sha256(id) % 5 == 0`` (about a fifth), never used for training or tuning.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Message = Callable[[str], None]


def held_back_ids(ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(train, held_back)``: held back are the ids with ``int(sha256(id)) % 5 == 0``."""
    train, held = [], []
    for i in ids:
        (held if int(hashlib.sha256(i.encode()).hexdigest(), 16) % 5 == 0 else train).append(i)
    return train, held


def _timed(predict: Callable[[np.ndarray], Any], images: Sequence[np.ndarray]) -> tuple[list[Any], float]:
    out = []
    start = time.perf_counter()
    for image in images:
        out.append(predict(image))
    ms = (time.perf_counter() - start) * 1000.0 / max(1, len(images))
    return out, round(ms, 1)


def evaluate_image_boxes(
    voc_root: Path,
    ids: Path | None = None,
    *,
    train_ids: Path | None = None,
    train_voc: Path | None = None,
    model: Any | None = None,
    epochs: int | None = None,
    seed: int = 0,
    iou_threshold: float = 0.5,
    message: Message | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Per-class AP@IoU, mAP, class-agnostic recall and ms per image of the cold-start and trained proposers.

    Parameters
    ----------
    voc_root, ids : Path
        Pascal VOC folder (``JPEGImages/``, ``Annotations/``) and the ids to evaluate (default all).
    train_ids, train_voc : Path, optional
        Train a detector first on these ids (of ``train_voc``, default ``voc_root``).
    model : BoxDetector or ProposalBoxClassifier, optional
        A trained box model to evaluate when not training here.
    """
    from cliniloop.connectors.sources.voc import load_rgb, read_voc
    from cliniloop.models.image.classical import BlobProposer
    from cliniloop.models.image.metrics import evaluate_boxes

    items = read_voc(voc_root, ids)
    if not items:
        raise ValueError(f"no images to evaluate in {voc_root}" + (f" for the ids in {ids}" if ids else ""))
    images = [load_rgb(item.image_path) for item in items]
    targets = [item.target for item in items]
    classes = sorted({label for t in targets for label in t.labels})
    result: dict[str, Any] = {"images": len(items), "boxes": int(sum(len(t.labels) for t in targets)), "iou_threshold": iou_threshold}

    trained: dict[str, Any] | None = None
    if train_ids is not None:
        from cliniloop.models.image.detector import BoxDetector

        train_items = read_voc(train_voc or voc_root, train_ids)
        overlap = {i.image_id for i in train_items} & {i.image_id for i in items}
        if overlap and (train_voc is None or train_voc == voc_root):
            raise ValueError(f"{len(overlap)} images are in both the training and the evaluation ids (e.g. {sorted(overlap)[0]})")
        if message:
            message(f"training a box detector on {len(train_items)} images")
        start = time.perf_counter()
        params: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
        model = BoxDetector(**params).fit([load_rgb(i.image_path) for i in train_items], [i.target for i in train_items], progress=progress)
        trained = {"training_images": len(train_items), "training_s": round(time.perf_counter() - start, 1)}
    if model is not None:
        if message:
            message(f"evaluating detector {model.version} on {len(images)} images")
        one = model.predict_many if hasattr(model, "predict_many") else model.predict  # proposal classifier / detector
        dets, ms = _timed(lambda im: one([im])[0], images)
        metrics = evaluate_boxes(dets, targets, iou_threshold=iou_threshold, classes=classes).as_dict()
        result["trained"] = {"model_version": model.version, **metrics, "ms_per_image": ms, **(trained or {})}
        result["trained"]["device"] = getattr(model, "device_", None)
    if message:
        message("evaluating the cold-start proposer")
    cold = BlobProposer().fit()
    dets, ms = _timed(cold.predict, images)
    metrics = evaluate_boxes(dets, targets, iou_threshold=iou_threshold).as_dict()
    result["cold_start"] = {
        "model_version": cold.version,
        "class_agnostic_ap": metrics["class_agnostic_ap"],
        "class_agnostic_recall": metrics["class_agnostic_recall"],
        "ms_per_image": ms,
    }
    return result


def evaluate_image_masks(
    images_dir: Path,
    labels_dir: Path,
    ids: Path | None = None,
    *,
    split: str = "all",
    train: bool = False,
    model: Any | None = None,
    epochs: int | None = None,
    seed: int = 0,
    iou_threshold: float = 0.5,
    message: Message | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Instance precision, recall and F1 at mask IoU ≥ ``iou_threshold`` of the cold-start and trained models.

    Parameters
    ----------
    split : {"all", "held-back"}
        Evaluate every image (of ``ids``) or only our held-back part (:func:`held_back_ids`).
    train : bool
        Train a mask model first on the images outside the held-back part (needs ``split="held-back"``).
    """
    from cliniloop.connectors.sources.instance_masks import load_instance_labels, read_instance_dataset
    from cliniloop.connectors.sources.voc import load_rgb
    from cliniloop.models.image.classical import MaskProposer
    from cliniloop.models.image.metrics import evaluate_instances

    items = read_instance_dataset(images_dir, labels_dir, ids)
    if split not in ("all", "held-back"):
        raise ValueError(f"split must be 'all' or 'held-back', not {split!r}")
    if train and split != "held-back":
        raise ValueError("training here needs split='held-back' (the model must not see the evaluated images)")
    train_part, held = held_back_ids([i.image_id for i in items])
    chosen = set(held) if split == "held-back" else {i.image_id for i in items}
    test_items = [i for i in items if i.image_id in chosen]
    if not test_items:
        raise ValueError(f"no images to evaluate in {images_dir}")
    images = [load_rgb(i.image_path) for i in test_items]
    truth = [load_instance_labels(i.label_path) for i in test_items]
    result: dict[str, Any] = {
        "images": len(test_items),
        "instances": int(sum(int(t.max()) for t in truth)),
        "split": split,
        "iou_threshold": iou_threshold,
    }
    trained: dict[str, Any] | None = None
    if train:
        from cliniloop.models.image.segmenter import MaskSegmenter

        train_items = [i for i in items if i.image_id in set(train_part)]
        if message:
            message(f"training a mask model on {len(train_items)} images")
        start = time.perf_counter()
        params: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
        model = MaskSegmenter(**params).fit(
            [load_rgb(i.image_path) for i in train_items], [load_instance_labels(i.label_path) for i in train_items], progress=progress
        )
        trained = {"training_images": len(train_items), "training_s": round(time.perf_counter() - start, 1)}
    if model is not None:
        if message:
            message(f"evaluating mask model {model.version} on {len(images)} images")
        one = model.predict_many if hasattr(model, "predict_many") else model.predict  # proposal classifier / detector
        dets, ms = _timed(lambda im: one([im])[0], images)
        m = evaluate_instances([d.instance_labels for d in dets], truth, iou_threshold=iou_threshold).as_dict()
        result["trained"] = {"model_version": model.version, **m, "ms_per_image": ms, **(trained or {})}
    if message:
        message("evaluating the cold-start mask proposer")
    cold = MaskProposer().fit()
    dets, ms = _timed(cold.predict, images)
    m = evaluate_instances([d.instance_labels for d in dets], truth, iou_threshold=iou_threshold).as_dict()
    result["cold_start"] = {"model_version": cold.version, **m, "ms_per_image": ms}
    return result
