"""COCO detection / instance-segmentation JSON: build, write atomically, and read back.

Written documents have 1-based image, annotation and category ids; ``bbox`` is ``[x, y, w, h]``
in px (pixel edges); masks are uncompressed column-major RLE ``{"size": [h, w], "counts": [...]}``
(as :func:`cliniloop.services.core.masks.mask_to_counts`, what ``pycocotools`` reads); ``area`` is the mask's
pixel count when there is a mask, else ``w * h``; ``iscrowd`` is 0; ``score`` is written for
results-style output when known.

:func:`read_coco` also accepts polygon segmentations (rasterised with
:func:`skimage.draw.polygon`, vertices being pixel-edge coordinates, so that the polygon of a box
covers exactly the box's pixels) and compressed RLE strings. Every problem is raised as
:class:`CocoFormatError` naming the file and the field (``annotations[3].bbox``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cliniloop.services.core.masks import counts_to_mask, mask_bbox, mask_to_counts

#: Image keys that ``extra`` may not override.
_IMAGE_KEYS = ("id", "file_name", "width", "height")
#: Annotation keys that are not region attributes.
_ANNOTATION_KEYS = {"id", "image_id", "category_id", "bbox", "segmentation", "area", "iscrowd", "score", "attributes"}


class CocoFormatError(ValueError):
    """A malformed COCO file: ``str(error)`` is ``"path: field: reason"``.

    Attributes
    ----------
    path : Path
        The JSON file.
    field : str or None
        The offending item, e.g. ``annotations[3].segmentation``.
    reason : str
        What is wrong.
    """

    def __init__(self, path: Path, reason: str, field: str | None = None) -> None:
        super().__init__(f"{path}: {field}: {reason}" if field else f"{path}: {reason}")
        self.path = path
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class CocoRegion:
    """One region of an image.

    Attributes
    ----------
    label : str
        Category name.
    box : tuple of float
        ``(x0, y0, x1, y1)`` pixel edges in px.
    counts : list of int, optional
        Mask as column-major uncompressed RLE counts over the whole image
        (:func:`cliniloop.services.core.masks.mask_to_counts`).
    score : float, optional
        Confidence (results-style files).
    attributes : dict
        Other per-region facts (written under ``"attributes"``; unknown annotation keys on read).
    """

    label: str
    box: tuple[float, float, float, float]
    counts: list[int] | None = None
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CocoImage:
    """One image and its regions.

    Attributes
    ----------
    file_name : str
        Image file name (relative to the dataset's image folder).
    width, height : int
        Size in px.
    regions : list of CocoRegion
        Its regions.
    extra : dict
        Other image-entry keys (e.g. ``pixel_spacing_mm``, ``task_id``).
    """

    file_name: str
    width: int
    height: int
    regions: list[CocoRegion]
    extra: dict[str, Any] = field(default_factory=dict)


def coco_document(images: Sequence[CocoImage], categories: Sequence[str], info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A COCO document (dict) for ``images``; category ids follow the order of ``categories``.

    Raises
    ------
    ValueError
        If a region's label is not in ``categories``, a category is repeated, ``extra`` would
        override ``id``/``file_name``/``width``/``height``, a box is empty or a mask's counts do not
        cover the image.
    """
    names = [str(name) for name in categories]
    if len(set(names)) != len(names):
        raise ValueError(f"categories repeat a name: {names}")
    category_id = {name: index + 1 for index, name in enumerate(names)}
    image_entries: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_index, image in enumerate(images):
        clash = [key for key in image.extra if key in _IMAGE_KEYS]
        if clash:
            raise ValueError(f"image {image.file_name!r}: extra may not set {clash}")
        image_id = image_index + 1
        image_entries.append({"id": image_id, "file_name": image.file_name, "width": int(image.width), "height": int(image.height), **image.extra})
        for region_index, region in enumerate(image.regions):
            where = f"image {image.file_name!r} region {region_index}"
            if region.label not in category_id:
                raise ValueError(f"{where}: label {region.label!r} is not one of the categories {names}")
            x0, y0, x1, y1 = (float(v) for v in region.box)
            if not (x1 > x0 and y1 > y0) or not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                raise ValueError(f"{where}: empty or non-finite box {region.box}")
            entry: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_id[region.label],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": (x1 - x0) * (y1 - y0),
                "iscrowd": 0,
            }
            if region.counts is not None:
                counts = [int(c) for c in region.counts]
                if sum(counts) != image.width * image.height or any(c < 0 for c in counts):
                    raise ValueError(f"{where}: mask counts add up to {sum(counts)}, not {image.width} x {image.height}")
                entry["segmentation"] = {"size": [int(image.height), int(image.width)], "counts": counts}
                entry["area"] = float(sum(counts[1::2]))
            if region.score is not None:
                entry["score"] = float(region.score)
            if region.attributes:
                entry["attributes"] = dict(region.attributes)
            annotations.append(entry)
    return {
        "info": dict(info) if info else {},
        "images": image_entries,
        "annotations": annotations,
        "categories": [{"id": category_id[name], "name": name, "supercategory": ""} for name in names],
    }


def write_coco(path: Path, doc: Mapping[str, Any]) -> None:
    """Write ``doc`` as JSON atomically (temporary file in the same folder, then rename).

    NumPy scalars and arrays are written as plain numbers and lists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as handle:
        try:
            json.dump(doc, handle, default=_json_default)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)


def read_coco(path: Path) -> list[CocoImage]:
    """Images of a COCO file with their regions (masks as uncompressed RLE counts), in file order.

    Raises
    ------
    CocoFormatError
        Naming the file and the field: not JSON, missing ``images``/``categories``, an
        annotation of an unknown image or category, a malformed ``bbox`` or ``segmentation``.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CocoFormatError(path, "no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CocoFormatError(path, f"not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise CocoFormatError(path, "expected a COCO document (an object with images, annotations, categories), not a bare list")
    for key in ("images", "categories"):
        if not isinstance(doc.get(key), list):
            raise CocoFormatError(path, "missing or not a list", key)
    categories: dict[Any, str] = {}
    for index, category in enumerate(doc["categories"]):
        if not isinstance(category, dict) or "id" not in category or not str(category.get("name", "")).strip():
            raise CocoFormatError(path, "needs an id and a name", f"categories[{index}]")
        categories[category["id"]] = str(category["name"])
    images: dict[Any, CocoImage] = {}
    for index, entry in enumerate(doc["images"]):
        where = f"images[{index}]"
        if not isinstance(entry, dict):
            raise CocoFormatError(path, "not an object", where)
        for key in _IMAGE_KEYS:
            if key not in entry:
                raise CocoFormatError(path, "missing", f"{where}.{key}")
        width, height = _positive_int(path, entry["width"], f"{where}.width"), _positive_int(path, entry["height"], f"{where}.height")
        if entry["id"] in images:
            raise CocoFormatError(path, f"repeated image id {entry['id']!r}", f"{where}.id")
        extra = {key: value for key, value in entry.items() if key not in _IMAGE_KEYS}
        images[entry["id"]] = CocoImage(str(entry["file_name"]), width, height, [], extra)
    annotations = doc.get("annotations", [])
    if not isinstance(annotations, list):
        raise CocoFormatError(path, "not a list", "annotations")
    for index, ann in enumerate(annotations):
        where = f"annotations[{index}]"
        if not isinstance(ann, dict):
            raise CocoFormatError(path, "not an object", where)
        image = images.get(ann.get("image_id"))
        if image is None:
            raise CocoFormatError(path, f"unknown image id {ann.get('image_id')!r}", f"{where}.image_id")
        label = categories.get(ann.get("category_id"))
        if label is None:
            raise CocoFormatError(path, f"unknown category id {ann.get('category_id')!r}", f"{where}.category_id")
        image.regions.append(_region(path, ann, image, label, where))
    return list(images.values())


def _region(path: Path, ann: dict[str, Any], image: CocoImage, label: str, where: str) -> CocoRegion:
    counts = None
    if ann.get("segmentation"):
        mask = _segmentation_mask(path, ann["segmentation"], image.height, image.width, f"{where}.segmentation")
        counts = mask_to_counts(mask)
    box: tuple[float, float, float, float] | None
    if ann.get("bbox") is not None:
        bbox = ann["bbox"]
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise CocoFormatError(path, f"expected [x, y, width, height], got {bbox!r}", f"{where}.bbox") from None
        if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
            raise CocoFormatError(path, f"empty or non-finite box {bbox!r}", f"{where}.bbox")
        box = (x, y, x + w, y + h)
    elif counts is not None:
        box = mask_bbox(counts_to_mask(counts, image.height, image.width))
        if box is None:
            raise CocoFormatError(path, "no bbox and an empty mask", where)
    else:
        raise CocoFormatError(path, "missing (and no segmentation to derive it from)", f"{where}.bbox")
    score = ann.get("score")
    if score is not None:
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise CocoFormatError(path, f"not a number: {score!r}", f"{where}.score") from None
    attributes = dict(ann.get("attributes") or {})
    attributes.update({key: value for key, value in ann.items() if key not in _ANNOTATION_KEYS})
    if ann.get("iscrowd"):
        attributes["iscrowd"] = ann["iscrowd"]
    return CocoRegion(label=label, box=box, counts=counts, score=score, attributes=attributes)


def _segmentation_mask(path: Path, seg: Any, height: int, width: int, where: str) -> NDArray[np.bool_]:
    """Boolean ``(height, width)`` mask of a polygon list, uncompressed RLE or compressed RLE."""
    if isinstance(seg, list):
        from skimage.draw import polygon

        mask = np.zeros((height, width), dtype=bool)
        for index, poly in enumerate(seg):
            try:
                xy = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
            except (TypeError, ValueError):
                raise CocoFormatError(path, "a polygon must be a flat list [x1, y1, x2, y2, ...]", f"{where}[{index}]") from None
            if len(xy) < 3 or not np.isfinite(xy).all():
                raise CocoFormatError(path, "a polygon needs at least 3 finite points", f"{where}[{index}]")
            # vertices are pixel-edge coordinates; pixel (r, c) is inside when its centre is
            rows, cols = polygon(xy[:, 1] - 0.5, xy[:, 0] - 0.5, shape=(height, width))
            mask[rows, cols] = True
        return mask
    if isinstance(seg, dict) and "counts" in seg:
        size = seg.get("size")
        if not (isinstance(size, list) and len(size) == 2 and [int(v) for v in size] == [height, width]):
            raise CocoFormatError(path, f"size {size!r} is not the image's [height, width] = [{height}, {width}]", f"{where}.size")
        counts = seg["counts"]
        if isinstance(counts, str):
            counts = _decode_rle_string(path, counts, f"{where}.counts")
        if not isinstance(counts, list) or not all(isinstance(c, int) and c >= 0 for c in counts):
            raise CocoFormatError(path, "counts must be a list of non-negative integers or an RLE string", f"{where}.counts")
        try:
            return counts_to_mask(counts, height, width)
        except ValueError as err:
            raise CocoFormatError(path, str(err), f"{where}.counts") from None
    raise CocoFormatError(path, "expected a list of polygons or an RLE object with size and counts", where)


def _decode_rle_string(path: Path, text: str, where: str) -> list[int]:
    """Counts of a compressed COCO RLE string (the ``pycocotools`` ``rleFrString`` format)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise CocoFormatError(path, "truncated compressed RLE string", where)
            code = ord(text[position]) - 48
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _positive_int(path: Path, value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise CocoFormatError(path, f"not an integer: {value!r}", where) from None
    if number <= 0 or number != value:
        raise CocoFormatError(path, f"must be a positive integer, not {value!r}", where)
    return number


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
