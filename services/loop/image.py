"""The image loop steps: files -> frames (tasks) -> regions (predictions) -> Label Studio -> COCO/VOC.

- :func:`ingest_images` checks every PNG/JPEG/DICOM file whole (:func:`cliniloop.connectors.sources.image.open_image`)
  and stores one task per frame. A task holds the file's path and SHA-256, the frame, the original
  geometry (``width``, ``height`` px), the pixel spacing (mm) and the window applied to make the
  8-bit rendering, never pixels and never DICOM header identifiers. The window is stored as numbers,
  so every later rendering (push, predict, train) is the same image.
- :func:`predict_images` proposes regions for every frame: with the promoted trained model of the
  task's kind when there is one (``image-box-detector`` for boxes, ``image-mask-segmenter`` for masks),
  else, for boxes, with the default detector shipped in the package (:mod:`cliniloop.models.image.defaults`,
  classes from its training data), else with the cold-start proposer (:class:`cliniloop.models.image.classical.BlobProposer` /
  :class:`~cliniloop.models.image.classical.MaskProposer`, no labels needed).
- Image uncertainty (what the sampler ranks): each region's uncertainty is
  ``u = max(H_b(score), H(class_probs) / log C)`` (binary entropy of the region score in bits: is it a
  finding at all?; normalised entropy of its class distribution: which class?) and the image's is the
  mean of its top-5 region uncertainties (:func:`cliniloop.models.sampling.rollup.rollup_for` ``"image"``). An
  image with no region at all gets 1.0: the model found nothing, so a human should look.
- :func:`image_task_data` renders a frame for Label Studio (8-bit PNG as a data URI, same geometry);
  :func:`export_coco` / :func:`export_voc` write regions (human-corrected where annotated, predicted
  elsewhere) in pixels of the original image.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cliniloop.connectors.sources.image import ImageFileError, ImageFrame, file_sha256, image_paths, open_image, png_data_uri
from cliniloop.services.core.masks import counts_to_mask, mask_bbox, mask_to_counts
from cliniloop.services.core.schemas import Mask, PredictionIn, Rectangle, TaskIn, regions_from_json
from cliniloop.services.core.store import Store
from cliniloop.services.loop.loaders import BOX_MODEL, MASK_MODEL, load_image_model
from cliniloop.services.loop.task_store import store_tasks
from cliniloop.services.quality.labels import TaskLabels, training_labels

IMAGE_MODEL_NAME = "image-regions"
#: The class-agnostic label of cold-start box proposals (annotators relabel them).
COLD_START_LABEL = "region"
ImageKind = Literal["boxes", "masks"]
Progress = Callable[[int], None]


class ImageChangedError(ImageFileError):
    """The file behind a task changed (or vanished) since it was ingested."""


@dataclass
class ImageIngestReport:
    """What an image ingest did."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    errors: list[ImageFileError] = field(default_factory=list)
    files: int = 0


def parse_window(value: str | None) -> str | tuple[float, float] | None:
    """``"lung"`` -> ``"lung"``; ``"40,400"`` -> ``(40.0, 400.0)`` (centre, width); ``None`` -> ``None``."""
    if value is None or not value.strip():
        return None
    if "," in value:
        try:
            center, width = (float(v) for v in value.split(","))
        except ValueError:
            raise ValueError(f"window {value!r}: give a preset name or CENTER,WIDTH") from None
        if width <= 0:
            raise ValueError(f"window {value!r}: width must be > 0")
        return center, width
    return value.strip()


def task_id_for(file_hash: str, frame: int, kind: str) -> str:
    """Stable task id: the file's content, the frame and the kind of regions asked for."""
    return hashlib.sha256(f"image:{file_hash}:{frame}:{kind}".encode()).hexdigest()


def ingest_images(
    store: Store,
    root: Path,
    *,
    kind: ImageKind = "boxes",
    window: str | tuple[float, float] | None = None,
    progress: Progress | None = None,
) -> ImageIngestReport:
    """Store one task per frame of every image under ``root`` (all in one transaction).

    Parameters
    ----------
    root : Path
        A PNG/JPEG/DICOM file or a folder searched recursively.
    kind : {"boxes", "masks"}
        Which regions annotators draw on these images.
    window : str or (float, float), optional
        DICOM display window: a preset name (``lung``, ``soft_tissue``, ...) or ``(center, width)``
        in physical units (HU for CT); default the header's window, else min-max.
    """
    report = ImageIngestReport()
    tasks: list[TaskIn] = []
    for path in image_paths(root):
        try:
            frames = open_image(path, window=window)
            digest = file_sha256(path)
        except ImageFileError as err:
            report.errors.append(err)
            continue
        report.files += 1
        for frame in frames:
            data = {
                "path": str(path.resolve()),
                "file_name": path.name,
                "file_sha256": digest,
                "kind": kind,
                "frame": frame.frame,
                "n_frames": frame.n_frames,
                "width": frame.width,
                "height": frame.height,
                "pixel_spacing_mm": list(frame.pixel_spacing_mm) if frame.pixel_spacing_mm else None,
                "window": list(frame.window) if frame.window else None,
                "window_source": frame.window_source,
                "units": frame.units,
                "modality": frame.modality,
                "photometric": frame.photometric,
                "source_format": frame.source_format,
            }
            tid = task_id_for(digest, frame.frame, kind)
            tasks.append(TaskIn(id=tid, modality="image", source_uri=path.resolve().as_uri(), data=data))
        if progress:
            progress(1)
    store_tasks(store, tasks, report, "image", files=report.files, kind=kind)
    return report


def load_frame(data: dict[str, Any]) -> ImageFrame:
    """The 8-bit rendering of a task's frame, with the window stored at ingest.

    Raises
    ------
    ImageChangedError
        When the file is gone or its content changed since ingest (regions would no longer fit).
    """
    path = Path(data["path"])
    if not path.exists():
        raise ImageChangedError(path, "file is gone since ingest")
    if file_sha256(path) != data["file_sha256"]:
        raise ImageChangedError(path, "file changed since ingest (SHA-256 differs); ingest it again")
    window = tuple(data["window"]) if data.get("window") and data.get("window_source") not in (None, "min-max") else None
    frames = open_image(path, window=window)  # type: ignore[arg-type]
    return frames[int(data.get("frame", 0))]


# -- regions <-> model outputs ----------------------------------------------------------------
def detections_to_regions(det: Any, width: int, height: int) -> list[Rectangle | Mask]:
    """Model output (:class:`cliniloop.models.image.regions.Detections`) -> stored regions, in original pixels.

    Boxes become :class:`Rectangle` (clipped to the image); instance masks become :class:`Mask`
    (run-length counts) with the box kept in ``attributes["box"]``.
    """
    regions: list[Rectangle | Mask] = []
    classes = list(det.classes or ())
    for k in range(len(det)):
        x0, y0, x1, y1 = (float(v) for v in det.boxes[k])
        x0, y0 = max(0.0, min(x0, width - 1.0)), max(0.0, min(y0, height - 1.0))
        x1, y1 = max(x0 + 1e-3, min(x1, float(width))), max(y0 + 1e-3, min(y1, float(height)))
        attrs: dict[str, Any] = {}
        if det.class_probs is not None and classes:
            attrs["probs"] = {c: round(float(p), 4) for c, p in zip(classes, det.class_probs[k], strict=True)}
        prob = float(np.clip(det.scores[k], 0.0, 1.0))
        if det.instance_labels is not None:
            mask = det.instance_labels == k + 1
            if not mask.any():
                continue
            attrs["box"] = [round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2)]
            regions.append(Mask(label=det.labels[k], counts=mask_to_counts(mask), image_width=width, image_height=height, probability=prob, attributes=attrs))
        else:
            regions.append(
                Rectangle(label=det.labels[k], x=x0, y=y0, width=x1 - x0, height=y1 - y0, image_width=width, image_height=height, probability=prob, attributes=attrs)
            )
    return regions


def region_box(region: Rectangle | Mask) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` px of a rectangle or of a mask's pixels."""
    if isinstance(region, Rectangle):
        return region.x, region.y, region.x + region.width, region.y + region.height
    return mask_bbox(counts_to_mask(region.counts, region.image_height, region.image_width))


def region_uncertainty(region: Rectangle | Mask) -> float:
    """A region's uncertainty (:func:`cliniloop.models.sampling.parts.region_uncertainty`)."""
    from cliniloop.models.sampling.parts import region_uncertainty as score

    return score(region.probability, region.attributes.get("probs"))


def image_uncertainty(regions: Sequence[Rectangle | Mask]) -> float:
    """Mean of the top-5 region uncertainties; 1.0 when there is no region (:func:`cliniloop.models.sampling.parts.regions_uncertainty`)."""
    from cliniloop.models.sampling.parts import regions_uncertainty

    return regions_uncertainty([(r.probability, r.attributes.get("probs")) for r in regions])


# -- models ------------------------------------------------------------------------------------
@dataclass
class ImageModels:
    """The proposers used for one prediction pass (trained where promoted, else cold-start)."""

    boxes: Any
    masks: Any
    box_version: str
    mask_version: str

    def for_kind(self, kind: str) -> tuple[Any, str]:
        return (self.masks, self.mask_version) if kind == "masks" else (self.boxes, self.box_version)


def load_image_models(store: Store, models_dir: Path) -> ImageModels:
    """Promoted detector and segmenter; boxes fall back to the shipped default detector, then each to its cold-start proposer."""
    from cliniloop.models.image.classical import BlobProposer, MaskProposer
    from cliniloop.services.loop.first_round import image_box_model

    boxes = image_box_model(store, models_dir)[0] or BlobProposer(label=COLD_START_LABEL).fit()
    masks = load_image_model(store, models_dir, MASK_MODEL) or MaskProposer().fit()
    return ImageModels(boxes, masks, str(boxes.version), str(masks.version))


def _predict_one(model: Any, pixels: np.ndarray) -> Any:
    if hasattr(model, "predict_many") or not hasattr(model, "save"):
        return model.predict(pixels)
    return model.predict([pixels])[0]


def taxonomy_version_of(labels: Sequence[str]) -> str:
    """Version of an image label set: ``image-labels:<8 hex>`` of the sorted class names."""
    return "image-labels:" + hashlib.sha256(json.dumps(sorted(set(labels))).encode()).hexdigest()[:8]


def predict_images(
    store: Store, models: ImageModels, *, progress: Progress | None = None, task_ids: Iterable[str] | None = None
) -> tuple[int, list[ImageFileError]]:
    """Propose regions for every image task (of ``task_ids``, default all) lacking a prediction from the current models.

    Returns
    -------
    (int, list of ImageFileError)
        Tasks given a new prediction, and the files that could not be read (changed or gone).
    """
    done = store.latest_predictions(IMAGE_MODEL_NAME)
    preds: list[PredictionIn] = []
    errors: list[ImageFileError] = []
    for task in store.list_tasks("image", ids=task_ids):
        model, version = models.for_kind(task.data.get("kind", "boxes"))
        if task.id in done and done[task.id].model_version == version:
            if progress:
                progress(1)
            continue
        try:
            frame = load_frame(task.data)
        except ImageFileError as err:
            errors.append(err)
            continue
        det = _predict_one(model, frame.pixels)
        regions = detections_to_regions(det, frame.width, frame.height)
        u = image_uncertainty(regions)
        classes = list(getattr(model, "classes_", None) or getattr(model, "classes", None) or det.classes or [r.label for r in regions])
        preds.append(
            PredictionIn(
                task_id=task.id,
                model_name=IMAGE_MODEL_NAME,
                model_version=version,
                taxonomy_version=taxonomy_version_of(classes),
                regions=regions,
                score=1.0 - u,
                uncertainty=u,
            )
        )
        if progress:
            progress(1)
    written = store.add_predictions(preds, make_latest=True) if preds else 0
    return written, errors


# -- Label Studio --------------------------------------------------------------------------------
def image_task_data(task: Any) -> dict[str, Any]:
    """Label Studio data of an image task: the 8-bit rendering as a PNG data URI and non-identifying facts."""
    from cliniloop.connectors.label_studio.image import image_task_data as ls_image_task_data

    d = task.data
    frame = load_frame(d)
    meta = {
        "file": d["file_name"] + (f" [frame {d['frame'] + 1}/{d['n_frames']}]" if d.get("n_frames", 1) > 1 else ""),
        "pixel_spacing_mm": d.get("pixel_spacing_mm"),
        "window": d.get("window"),
        "modality": d.get("modality"),
    }
    return ls_image_task_data(png_data_uri(frame.pixels), width=frame.width, height=frame.height, meta=meta)


def image_project_config(box_classes: Sequence[str], mask_classes: Sequence[str]) -> str:
    """Label config with ``RectangleLabels`` for ``box_classes`` and ``BrushLabels`` for ``mask_classes``."""
    from cliniloop.connectors.label_studio.image import image_label_config

    boxes = [(c, c) for c in dict.fromkeys(box_classes)]
    masks = [(c, c) for c in dict.fromkeys(mask_classes)] or None
    return image_label_config(boxes, masks)


def labels_in_use(store: Store) -> tuple[list[str], list[str]]:
    """Box and mask classes found in the newest predictions and in annotations (sorted)."""
    boxes: set[str] = set()
    masks: set[str] = set()
    rows = [p.regions for p in store.latest_predictions(IMAGE_MODEL_NAME).values()]
    image_ids = {t.id for t in store.list_tasks("image")}
    rows += [a.regions for a in store.annotations() if a.task_id in image_ids]
    for regions in rows:
        for r in regions:
            (masks if r.get("kind") == "mask" else boxes if r.get("kind") == "rect" else set()).add(r["label"])
    return sorted(boxes), sorted(masks)


# -- regions of a task for export and training -------------------------------------------------
def task_regions(
    store: Store, task: Any, *, only_corrected: bool = False, labels: TaskLabels | None = None
) -> tuple[list[Rectangle | Mask], str] | None:
    """The task's label (``"annotation"``: see :func:`cliniloop.services.quality.labels.training_labels`),
    else the newest prediction's regions (``"prediction"``); ``None`` for an unresolved disagreement."""
    labels = labels if labels is not None else training_labels(store, "image")
    label = labels.get(task.id)
    if label is not None:
        return [r for r in regions_from_json(label.regions) if r.kind in ("rect", "mask")], "annotation"  # type: ignore[misc]
    if only_corrected or task.id in labels.unresolved:
        return None
    pred = store.latest_predictions(IMAGE_MODEL_NAME, [task.id]).get(task.id)
    if pred is None:
        return None
    return [r for r in regions_from_json(pred.regions) if r.kind in ("rect", "mask")], "prediction"  # type: ignore[misc]


def _export_name(task: Any) -> str:
    d = task.data
    stem = Path(d["file_name"]).stem
    return f"{stem}_f{d['frame']:04d}" if d.get("n_frames", 1) > 1 else stem


def export_coco(store: Store, path: Path, *, only_corrected: bool = False, min_score: float = 0.0) -> dict[str, int]:
    """Write every image task's regions as one COCO JSON file (boxes; masks as uncompressed RLE).

    Image entries carry ``task_id``, ``frame``, ``pixel_spacing_mm`` and ``region_source``
    (annotation / prediction); predicted regions carry ``score``. Returns counts.
    """
    from cliniloop.connectors.sources.coco import CocoImage, CocoRegion, coco_document, write_coco

    images: list[CocoImage] = []
    labels: set[str] = set()
    n_regions = 0
    task_labels = training_labels(store, "image")
    for task in store.list_tasks("image"):
        found = task_regions(store, task, only_corrected=only_corrected, labels=task_labels)
        if found is None:
            continue
        regions, source = found
        coco_regions = []
        for r in regions:
            if source == "prediction" and (r.probability or 0.0) < min_score:
                continue
            box = region_box(r)
            if box is None:
                continue
            counts = r.counts if isinstance(r, Mask) else None
            score = r.probability if source == "prediction" else None
            coco_regions.append(CocoRegion(label=r.label, box=box, counts=counts, score=score))
            labels.add(r.label)
        n_regions += len(coco_regions)
        d = task.data
        extra = {"task_id": task.id, "frame": d["frame"], "pixel_spacing_mm": d.get("pixel_spacing_mm"), "region_source": source}
        file_name = d["file_name"] if d.get("n_frames", 1) == 1 else f"{_export_name(task)}.png"
        images.append(CocoImage(file_name=file_name, width=d["width"], height=d["height"], regions=coco_regions, extra=extra))
    doc = coco_document(images, sorted(labels), info={"description": "cliniloop export", "only_corrected": only_corrected})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_coco(path, doc)
    store.audit("cliniloop", "export", "image", None, format="coco", images=len(images), regions=n_regions)
    return {"images": len(images), "regions": n_regions}


def export_voc(store: Store, out_dir: Path, *, only_corrected: bool = False, min_score: float = 0.0) -> dict[str, int]:
    """Write boxes (masks as their boxes) in the Pascal VOC layout: ``Annotations/*.xml`` and ``JPEGImages/``.

    PNG sources are copied as they are; JPEG (whose EXIF orientation the boxes follow) and DICOM frames
    are written as their 8-bit PNG rendering, so every viewer shows what the boxes were drawn on.
    """
    from cliniloop.connectors.sources.image import png_bytes
    from cliniloop.connectors.sources.voc import write_voc_annotation

    (out_dir / "Annotations").mkdir(parents=True, exist_ok=True)
    (out_dir / "JPEGImages").mkdir(parents=True, exist_ok=True)
    n_images = n_boxes = 0
    task_labels = training_labels(store, "image")
    for task in store.list_tasks("image"):
        found = task_regions(store, task, only_corrected=only_corrected, labels=task_labels)
        if found is None:
            continue
        regions, source = found
        boxes, labels = [], []
        for r in regions:
            if source == "prediction" and (r.probability or 0.0) < min_score:
                continue
            box = region_box(r)
            if box is not None:
                boxes.append(box)
                labels.append(r.label)
        d = task.data
        name = _export_name(task)
        if d["source_format"] == "png" and d.get("n_frames", 1) == 1:
            image_name = name + Path(d["file_name"]).suffix.lower()
            shutil.copyfile(d["path"], out_dir / "JPEGImages" / image_name)
            depth = 3
        else:
            frame = load_frame(d)
            image_name = name + ".png"
            (out_dir / "JPEGImages" / image_name).write_bytes(png_bytes(frame.pixels))
            depth = 3 if frame.pixels.ndim == 3 else 1
        write_voc_annotation(
            out_dir / "Annotations" / f"{name}.xml",
            filename=image_name,
            width=d["width"],
            height=d["height"],
            depth=depth,
            boxes=np.array(boxes, dtype=float).reshape(-1, 4),
            labels=labels,
        )
        n_images += 1
        n_boxes += len(boxes)
    store.audit("cliniloop", "export", "image", None, format="voc", images=n_images, regions=n_boxes)
    return {"images": n_images, "regions": n_boxes}
