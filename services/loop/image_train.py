"""Training the image proposers from reference datasets and from corrections pulled from Label Studio.

- Boxes: Pascal VOC folders (``--voc DIR [--ids FILE]``) plus every image task whose newest
  annotation has rectangles (a mask drawn on a box task counts as its box). The detector is
  fine-tuned from the promoted version when there is one (:meth:`BoxDetector.fit` ``init_from``).
- Masks: instance-label datasets (``--mask-images DIR --mask-labels DIR``) plus every mask task
  whose newest annotation has masks (overlaps: the later region wins the pixel).

Corrected images are rendered exactly as annotators saw them (the window stored at ingest).
Each trained version is written to the registry, registered and promoted, with the training
set's description (reference images, corrected tasks) in its metadata.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.core.masks import counts_to_mask
from services.core.schemas import Mask, Rectangle, regions_from_json
from services.core.settings import Settings
from services.core.store import Store
from services.core.targets import BoxTarget
from services.loop.loaders import load_image_model
from services.loop.promoted import register_and_promote
from services.loop.image import BOX_MODEL, MASK_MODEL, load_frame, region_box, taxonomy_version_of
from services.quality.labels import TaskLabels, training_labels

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


load_promoted = load_image_model  # the name trainers and tests used before services.loop.loaders


def load_box_detector(store: Store, settings: Settings) -> Any | None:
    """The promoted box detector, or ``None``."""
    return load_promoted(store, settings.resolved_models_dir, BOX_MODEL)


def load_mask_segmenter(store: Store, settings: Settings) -> Any | None:
    """The promoted mask model, or ``None``."""
    return load_promoted(store, settings.resolved_models_dir, MASK_MODEL)


def _register(store: Store, settings: Settings, name: str, model: Any, parent: str | None, meta: dict[str, Any], count: int) -> None:
    register_and_promote(
        store, settings.resolved_models_dir, name, model, {"version": model.version, "parent": parent, **meta},
        label_count=count, reason="image train", regions=count, corrected_tasks=len(meta["corrected_tasks"]),
    )  # fmt: skip


def train_box_detector(
    store: Store,
    settings: Settings,
    voc: Sequence[VocSource] = (),
    *,
    epochs: int | None = None,
    seed: int = 0,
    message: Message | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the box detector on VOC folders plus corrected box tasks; register and promote it."""
    from connectors.sources.voc import load_rgb, read_voc
    from models.image.detector import BoxDetector

    images: list[np.ndarray] = []
    targets: list[BoxTarget] = []
    names: list[str] = []
    for src in voc:
        for item in read_voc(src.root, src.ids):
            images.append(load_rgb(item.image_path))
            targets.append(item.target)
            names.append(f"{src.root.name}/{item.image_id}")
    c_images, c_targets, c_ids = corrected_box_examples(store)
    if not images and not c_images:
        raise ValueError("nothing to train on: give --voc with a Pascal VOC folder, or correct boxes in Label Studio first")
    if message:
        message(f"training the box detector on {len(images)} reference images and {len(c_images)} corrected images")
    current = load_box_detector(store, settings)
    params: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
    model = BoxDetector(**params).fit([*images, *c_images], [*targets, *c_targets], init_from=current, progress=progress)
    n_boxes = sum(len(t.labels) for t in [*targets, *c_targets])
    classes = list(model.classes_)
    meta = {
        "label_count": n_boxes,
        "taxonomy_version": taxonomy_version_of(classes),
        "training_set_hash": _set_hash(names + c_ids),
        "params": params,
        "classes": classes,
        "reference_images": len(images),
        "corrected_tasks": c_ids,
    }
    _register(store, settings, BOX_MODEL, model, current.version if current else None, meta, n_boxes)
    return {"version": model.version, "images": len(images) + len(c_images), "boxes": n_boxes, "classes": classes, "corrected_tasks": len(c_ids)}


def train_mask_segmenter(
    store: Store,
    settings: Settings,
    sources: Sequence[MaskSource] = (),
    *,
    epochs: int | None = None,
    seed: int = 0,
    message: Message | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the mask model on instance-label datasets plus corrected mask tasks; register and promote it."""
    from connectors.sources.instance_masks import load_instance_labels, read_instance_dataset
    from connectors.sources.voc import load_rgb
    from models.image.segmenter import MaskSegmenter

    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    names: list[str] = []
    for src in sources:
        for item in read_instance_dataset(src.images, src.labels, src.ids):
            images.append(load_rgb(item.image_path))
            labels.append(load_instance_labels(item.label_path))
            names.append(f"{src.images.name}/{item.image_id}")
    c_images, c_labels, c_ids = corrected_mask_examples(store)
    if not images and not c_images:
        raise ValueError("nothing to train on: give --mask-images/--mask-labels, or correct masks in Label Studio first")
    if message:
        message(f"training the mask model on {len(images)} reference images and {len(c_images)} corrected images")
    current = load_mask_segmenter(store, settings)
    params: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
    model = MaskSegmenter(**params).fit([*images, *c_images], [*labels, *c_labels], init_from=current, progress=progress)
    n_inst = int(sum(int(lab.max()) for lab in [*labels, *c_labels]))
    meta = {
        "label_count": n_inst,
        "taxonomy_version": taxonomy_version_of([model.label]),
        "training_set_hash": _set_hash(names + c_ids),
        "params": params,
        "reference_images": len(images),
        "corrected_tasks": c_ids,
    }
    _register(store, settings, MASK_MODEL, model, current.version if current else None, meta, n_inst)
    return {"version": model.version, "images": len(images) + len(c_images), "instances": n_inst, "corrected_tasks": len(c_ids)}
