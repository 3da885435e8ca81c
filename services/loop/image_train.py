"""Training the image proposers from reference datasets and from corrections pulled from Label Studio.

- Boxes: Pascal VOC folders (``--voc DIR [--ids FILE]``) plus every image task whose newest
  annotation has rectangles (a mask drawn on a box task counts as its box). The detector is
  fine-tuned from the promoted version when there is one (:meth:`BoxDetector.fit` ``init_from``).
- Masks: instance-label datasets (``--mask-images DIR --mask-labels DIR``) plus every mask task
  whose newest annotation has masks (overlaps: the later region wins the pixel).

Corrected images are rendered exactly as annotators saw them (the window stored at ingest).
Each trained version is written to the registry and registered, with the training set's
description (reference images, corrected tasks) and its dev figures in its metadata; it is
promoted only when not worse on the fixed, image-grouped dev split than the promoted version, or
than the cold-start proposer when none is promoted (:mod:`cliniloop.services.loop.promotion`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.services.core.masks import counts_to_mask
from cliniloop.services.core.schemas import Mask, Rectangle, regions_from_json
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.core.targets import BoxTarget
from cliniloop.services.loop.loaders import load_image_model
from cliniloop.services.loop.promotion import DEV_MODULUS, IMAGE_BOXES, IMAGE_MASKS, TrainResult, baseline_label, is_dev_group, register_and_decide
from cliniloop.services.loop.image import BOX_MODEL, MASK_MODEL, load_frame, region_box, taxonomy_version_of
from cliniloop.services.quality.labels import TaskLabels, training_labels

Message = Callable[[str], None]


@dataclass(frozen=True)
class VocSource:
    """A Pascal VOC folder and optionally a file of image ids to use."""

    root: Path
    ids: Path | None = None


@dataclass(frozen=True)
class MaskSource:
    """An instance-label dataset: images and label PNGs with the same names, optionally an id list."""

    images: Path
    labels: Path
    ids: Path | None = None


def _label_regions(labels: TaskLabels, task_id: str) -> list[Any] | None:
    label = labels.get(task_id)
    return regions_from_json(label.regions) if label is not None else None


def corrected_box_examples(store: Store) -> tuple[list[np.ndarray], list[BoxTarget], list[str]]:
    """Renderings and boxes of every image task an annotator labelled (an empty annotation counts: no findings)."""
    images, targets, ids = [], [], []
    task_labels = training_labels(store, "image")
    for task in store.list_tasks("image"):
        if task.data.get("kind", "boxes") != "boxes":
            continue
        regions = _label_regions(task_labels, task.id)
        if regions is None:
            continue
        boxes, labels = [], []
        for r in regions:
            if isinstance(r, (Rectangle, Mask)):
                box = region_box(r)
                if box is not None:
                    boxes.append(box)
                    labels.append(r.label)
        images.append(load_frame(task.data).pixels)
        targets.append(BoxTarget(np.array(boxes, dtype=float).reshape(-1, 4), labels))
        ids.append(task.id)
    return images, targets, ids


def corrected_mask_examples(store: Store) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Renderings and instance label images of every mask task an annotator labelled."""
    images, labels_out, ids = [], [], []
    task_labels = training_labels(store, "image")
    for task in store.list_tasks("image"):
        if task.data.get("kind") != "masks":
            continue
        regions = _label_regions(task_labels, task.id)
        if regions is None:
            continue
        h, w = task.data["height"], task.data["width"]
        inst = np.zeros((h, w), dtype=np.int32)
        k = 0
        for r in regions:
            if isinstance(r, Mask):
                k += 1
                inst[counts_to_mask(r.counts, h, w)] = k
        images.append(load_frame(task.data).pixels)
        labels_out.append(inst)
        ids.append(task.id)
    return images, labels_out, ids


def _set_hash(parts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


load_promoted = load_image_model  # the name trainers and tests used before cliniloop.services.loop.loaders


def load_box_detector(store: Store, settings: Settings) -> Any | None:
    """The promoted box detector, or ``None``."""
    return load_promoted(store, settings.resolved_models_dir, BOX_MODEL)


def load_mask_segmenter(store: Store, settings: Settings) -> Any | None:
    """The promoted mask model, or ``None``."""
    return load_promoted(store, settings.resolved_models_dir, MASK_MODEL)


def _image_key(path: Path) -> str:
    from cliniloop.connectors.sources.image import file_sha256

    return file_sha256(path)


def _corrected_keys(store: Store, task_ids: Sequence[str]) -> list[str]:
    """The image (file content hash) of each corrected task: its dev-split group key."""
    tasks = {t.id: t for t in store.list_tasks("image", ids=list(task_ids))}
    return [str(tasks[i].data.get("file_sha256") or i) for i in task_ids]


def _split(keys: Sequence[str]) -> tuple[list[int], list[int]]:
    """Indices of ``(train, dev)``: an image is in the dev split when :func:`is_dev_group` of its content hash."""
    train, dev = [], []
    for i, key in enumerate(keys):
        (dev if is_dev_group(key) else train).append(i)
    return train, dev


def dev_box_ap(model: Any | None, images: Sequence[np.ndarray], targets: Sequence[BoxTarget]) -> dict[str, Any]:
    """Class-agnostic AP and recall at box IoU 0.5 (and mAP) of ``model`` on the dev images.

    ``model=None`` scores the cold-start proposer (:class:`cliniloop.models.image.classical.BlobProposer`),
    which proposes class-agnostic regions: class-agnostic AP is the one figure both can be
    compared on. ``class_agnostic_ap`` is ``None`` without a dev box.
    """
    from cliniloop.models.image.metrics import evaluate_boxes

    if not images or not sum(len(t.labels) for t in targets):
        return {"class_agnostic_ap": None, "dev_images": len(images), "dev_boxes": 0}
    if model is None:
        from cliniloop.models.image.classical import BlobProposer

        from cliniloop.services.loop.image import COLD_START_LABEL

        cold = BlobProposer(label=COLD_START_LABEL).fit()
        dets = [cold.predict(im) for im in images]
    else:
        dets = model.predict(list(images))
    m = evaluate_boxes(dets, list(targets), iou_threshold=0.5).as_dict()
    return {
        "class_agnostic_ap": round(float(m["class_agnostic_ap"]), 5),
        "class_agnostic_recall": round(float(m["class_agnostic_recall"]), 5),
        "map": round(float(m["map"]), 5),
        "dev_images": len(images),
        "dev_boxes": int(sum(len(t.labels) for t in targets)),
    }


def dev_mask_f1(model: Any | None, images: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> dict[str, Any]:
    """Instance precision, recall and F1 at mask IoU 0.5 of ``model`` on the dev images.

    ``model=None`` scores the cold-start proposer (:class:`cliniloop.models.image.classical.MaskProposer`).
    ``f1`` is ``None`` without a dev image.
    """
    from cliniloop.models.image.metrics import evaluate_instances

    if not images:
        return {"f1": None, "dev_images": 0, "dev_instances": 0}
    if model is None:
        from cliniloop.models.image.classical import MaskProposer

        cold = MaskProposer().fit()
        dets = [cold.predict(im) for im in images]
    else:
        dets = model.predict(list(images))
    m = evaluate_instances([d.instance_labels for d in dets], list(labels), iou_threshold=0.5).as_dict()
    return {
        "f1": round(float(m["f1"]), 5),
        "precision": round(float(m["precision"]), 5),
        "recall": round(float(m["recall"]), 5),
        "dev_images": len(images),
        "dev_instances": int(sum(int(lab.max()) for lab in labels)),
    }


def train_box_detector(
    store: Store,
    settings: Settings,
    voc: Sequence[VocSource] = (),
    *,
    epochs: int | None = None,
    seed: int = 0,
    message: Message | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    params: dict[str, Any] | None = None,
) -> TrainResult:
    """Train the box detector on VOC folders plus corrected box tasks; register it; promote it when not worse.

    Images of the fixed dev split (grouped by image: the file's content hash) are never trained
    on; the new detector's class-agnostic AP@0.5 on them is compared with the promoted detector's,
    or with the cold-start proposer's when none is promoted (:mod:`cliniloop.services.loop.promotion`).
    ``params`` are extra :class:`~cliniloop.models.image.detector.BoxDetector` arguments.
    """
    from cliniloop.connectors.sources.voc import load_rgb, read_voc
    from cliniloop.models.image.detector import BoxDetector

    images: list[np.ndarray] = []
    targets: list[BoxTarget] = []
    names: list[str] = []
    keys: list[str] = []
    for src in voc:
        for item in read_voc(src.root, src.ids):
            images.append(load_rgb(item.image_path))
            targets.append(item.target)
            names.append(f"{src.root.name}/{item.image_id}")
            keys.append(_image_key(item.image_path))
    c_images, c_targets, c_ids = corrected_box_examples(store)
    if not images and not c_images:
        raise ValueError("nothing to train on: give --voc with a Pascal VOC folder, or correct boxes in Label Studio first")
    all_images, all_targets = [*images, *c_images], [*targets, *c_targets]
    train, dev = _split([*keys, *_corrected_keys(store, c_ids)])
    if not train:
        raise ValueError(f"all {len(dev)} images are in the dev split: give more images to train on")
    if message:
        message(
            f"training the box detector on {sum(i < len(images) for i in train)} reference images and "
            f"{sum(i >= len(images) for i in train)} corrected images ({len(dev)} held out as the dev split)"
        )
    current = load_box_detector(store, settings)
    params = {"seed": seed, **dict(params or {})} | ({"epochs": epochs} if epochs else {})
    model = BoxDetector(**params).fit([all_images[i] for i in train], [all_targets[i] for i in train], init_from=current, progress=progress)
    dev_images, dev_targets = [all_images[i] for i in dev], [all_targets[i] for i in dev]
    new, base = dev_box_ap(model, dev_images, dev_targets), dev_box_ap(current, dev_images, dev_targets)
    n_boxes = sum(len(all_targets[i].labels) for i in train)
    classes = list(model.classes_)
    meta = {
        "parent": current.version if current else None,
        "taxonomy_version": taxonomy_version_of(classes),
        "training_set_hash": _set_hash([([*names, *c_ids])[i] for i in train]),
        "params": params,
        "classes": classes,
        "reference_images": sum(i < len(images) for i in train),
        "corrected_tasks": [c_ids[i - len(images)] for i in train if i >= len(images)],
        "dev_modulus": DEV_MODULUS,
    }
    return register_and_decide(
        store, settings, modality=IMAGE_BOXES, model_name=BOX_MODEL, model=model, meta=meta, metric_name="class_agnostic_ap",
        metric=new["class_agnostic_ap"], baseline=base["class_agnostic_ap"],
        baseline_label=baseline_label(current.version if current else None, "proposer"),
        dev_size=f"{new['dev_images']} dev images, {new['dev_boxes']} boxes", label_count=n_boxes, metrics=new,
        training_set_hash=meta["training_set_hash"], regions=n_boxes, corrected_tasks=len(meta["corrected_tasks"]),
    )  # fmt: skip


def train_mask_segmenter(
    store: Store,
    settings: Settings,
    sources: Sequence[MaskSource] = (),
    *,
    epochs: int | None = None,
    seed: int = 0,
    message: Message | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    params: dict[str, Any] | None = None,
) -> TrainResult:
    """Train the mask model on instance-label datasets plus corrected mask tasks; register it; promote it when not worse.

    Images of the fixed dev split (grouped by image: the file's content hash) are never trained
    on; the new model's instance F1 at mask IoU 0.5 on them is compared with the promoted model's,
    or with the cold-start proposer's when none is promoted (:mod:`cliniloop.services.loop.promotion`).
    ``params`` are extra :class:`~cliniloop.models.image.segmenter.MaskSegmenter` arguments (e.g. ``patches_per_epoch``).
    """
    from cliniloop.connectors.sources.instance_masks import load_instance_labels, read_instance_dataset
    from cliniloop.connectors.sources.voc import load_rgb
    from cliniloop.models.image.segmenter import MaskSegmenter

    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    names: list[str] = []
    keys: list[str] = []
    for src in sources:
        for item in read_instance_dataset(src.images, src.labels, src.ids):
            images.append(load_rgb(item.image_path))
            labels.append(load_instance_labels(item.label_path))
            names.append(f"{src.images.name}/{item.image_id}")
            keys.append(_image_key(item.image_path))
    c_images, c_labels, c_ids = corrected_mask_examples(store)
    if not images and not c_images:
        raise ValueError("nothing to train on: give --mask-images/--mask-labels, or correct masks in Label Studio first")
    all_images, all_labels = [*images, *c_images], [*labels, *c_labels]
    train, dev = _split([*keys, *_corrected_keys(store, c_ids)])
    if not train:
        raise ValueError(f"all {len(dev)} images are in the dev split: give more images to train on")
    if message:
        message(
            f"training the mask model on {sum(i < len(images) for i in train)} reference images and "
            f"{sum(i >= len(images) for i in train)} corrected images ({len(dev)} held out as the dev split)"
        )
    current = load_mask_segmenter(store, settings)
    params = {"seed": seed, **dict(params or {})} | ({"epochs": epochs} if epochs else {})
    model = MaskSegmenter(**params).fit([all_images[i] for i in train], [all_labels[i] for i in train], init_from=current, progress=progress)
    dev_images, dev_labels = [all_images[i] for i in dev], [all_labels[i] for i in dev]
    if message:
        message(f"evaluating on {len(dev)} dev images (new model, then the {'promoted model' if current else 'cold-start proposer'})")
    new, base = dev_mask_f1(model, dev_images, dev_labels), dev_mask_f1(current, dev_images, dev_labels)
    n_inst = int(sum(int(all_labels[i].max()) for i in train))
    meta = {
        "parent": current.version if current else None,
        "taxonomy_version": taxonomy_version_of([model.label]),
        "training_set_hash": _set_hash([([*names, *c_ids])[i] for i in train]),
        "params": params,
        "reference_images": sum(i < len(images) for i in train),
        "corrected_tasks": [c_ids[i - len(images)] for i in train if i >= len(images)],
        "dev_modulus": DEV_MODULUS,
    }
    return register_and_decide(
        store, settings, modality=IMAGE_MASKS, model_name=MASK_MODEL, model=model, meta=meta, metric_name="f1",
        metric=new["f1"], baseline=base["f1"], baseline_label=baseline_label(current.version if current else None, "proposer"),
        dev_size=f"{new['dev_images']} dev images, {new['dev_instances']} instances", label_count=n_inst, metrics=new,
        training_set_hash=meta["training_set_hash"], regions=n_inst, corrected_tasks=len(meta["corrected_tasks"]),
    )  # fmt: skip
