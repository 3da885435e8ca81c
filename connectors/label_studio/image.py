"""Label Studio image tasks: label config, task data and box/mask result items.

Coordinates
-----------
Our regions are in pixels of the original image: a :class:`~cliniloop.services.core.schemas.Rectangle`'s
``x, y, width, height`` are pixel *edges* (the box covers ``[x, x + width) x [y, y + height)``,
pixel ``i`` spans ``[i, i + 1)``), a :class:`~cliniloop.services.core.schemas.Mask` is a boolean image of
``image_height x image_width`` as column-major COCO run-length counts.

Label Studio stores rectangles (``rectanglelabels``) in percent of the original image, with the
image's ``original_width``/``original_height`` next to them, and masks (``brushlabels``) as its
own brush RLE: a bit-packed run-length code (``label_studio_sdk.converter.brush``; the frontend
uses the same ``rle-pack`` codec) of the RGBA pixels of an ``original_height x original_width``
canvas, **row-major, 4 bytes per pixel** (the frontend does ``ImageData(naturalWidth,
naturalHeight).data.set(decode(rle))``). It paints a pixel whose alpha byte is non-zero and, when an
annotator saves a brush region, writes the alpha byte into all four channels. We write
``(255, 255, 255, 255)`` for mask pixels. A stroke drawn in the UI has antialiased edges (in a
stroke drawn in 1.23.2, 155 of its 383 non-zero pixels had alpha 10-247); we read a pixel as set
when its alpha is at least half (:data:`BRUSH_ALPHA_THRESHOLD`), the analogue of the pixel-centre
rule used for polygons, so human masks do not gain a one-pixel rim. (Label Studio's own COCO
export counts every non-zero alpha.)

The UI decodes a brush RLE at the ``naturalWidth x naturalHeight`` of the image it shows, so the
image served to the browser must have the original size (a downscaled preview would scramble
masks). Rectangles, being in percent, survive any scaling.

Serving the image
-----------------
A ``data:image/png;base64,...`` URI in the task data works in Label Studio 1.23.2 (checked in
headless Chromium: the editor loads it, through a ``blob:`` URL, at its natural size and draws
boxes and brush masks on it; the Data Manager shows it as a thumbnail). Nothing is uploaded, but
the image is stored in the task row and sent with every task listing: keep such images small
(a DICOM slice rendered to an 8-bit PNG is typically tens to a few hundred kB).
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, encode_rle
from numpy.typing import NDArray
from pydantic import ValidationError

from cliniloop.connectors.label_studio.config import _attrs
from cliniloop.connectors.label_studio.errors import ConversionError
from cliniloop.services.core.masks import counts_to_mask, mask_to_counts
from cliniloop.services.core.schemas import Mask, Rectangle

log = logging.getLogger(__name__)

#: ``name`` of the ``<Image>`` object tag, its task data key and the ``to_name`` of image results.
IMAGE_OBJECT = "image"
#: ``name`` of the ``<RectangleLabels>`` control: ``from_name`` of box results.
BOX_TAG = "box"
#: ``name`` of the ``<BrushLabels>`` control: ``from_name`` of mask results (a project that
#: draws masks as polygons names its ``<PolygonLabels>`` so too).
MASK_TAG = "mask"
#: A brush pixel is set when its alpha byte is at least this (half covered; see the module docstring).
BRUSH_ALPHA_THRESHOLD = 128

#: Label colours; a class keeps its colour whatever the order of the class list (see :func:`class_colours`).
PALETTE = (
    "#e03131", "#1971c2", "#2f9e44", "#f08c00", "#9c36b5", "#0c8599", "#e8590c", "#5c940d",
    "#c2255c", "#3b5bdb", "#087f5b", "#f59f00", "#6741d9", "#1098ad", "#d6336c", "#74b816",
)  # fmt: skip


# -- config and task data ------------------------------------------------------------------
def class_colours(values: Sequence[str]) -> dict[str, str]:
    """A palette colour per class value, stable across calls and class orders.

    Each value starts at the palette slot given by a CRC-32 of its name; a value whose slot is
    taken (by a value earlier in sorted order) moves to the next free slot, so classes of one
    config differ in colour while the palette has room.
    """
    colours: dict[str, str] = {}
    used: set[int] = set()
    for value in sorted(set(values)):
        slot = zlib.crc32(value.encode("utf-8")) % len(PALETTE)
        for step in range(len(PALETTE)):
            if (slot + step) % len(PALETTE) not in used:
                slot = (slot + step) % len(PALETTE)
                break
        used.add(slot)
        if len(used) == len(PALETTE):
            used.clear()
        colours[value] = PALETTE[slot]
    return colours


def image_label_config(
    classes: Sequence[tuple[str, str]], mask_classes: Sequence[tuple[str, str]] | None = None
) -> str:
    """The image project's config: one image, a box control and, optionally, a brush control.

    Parameters
    ----------
    classes : sequence of (value, description)
        Box classes in display order (``<RectangleLabels name="box">``).
    mask_classes : sequence of (value, description), optional
        Mask classes (``<BrushLabels name="mask">``); no brush control without them.

    Returns
    -------
    str
        The ``<View>`` XML. Rotation is off (``rotateControl="false"`` on the image,
        ``canRotate="false"`` on the boxes): our boxes are axis-aligned.
    """
    colours = class_colours([v for v, _ in classes] + [v for v, _ in (mask_classes or ())])

    def labels(pairs: Sequence[tuple[str, str]]) -> list[str]:
        return [f"    <Label {_attrs(value=v, background=colours[v], hint=hint or None)}/>" for v, hint in pairs]

    parts = [
        "<View>",
        f'  <Image name="{IMAGE_OBJECT}" value="${IMAGE_OBJECT}" zoom="true" zoomControl="true" '
        'rotateControl="false"/>',
        f'  <RectangleLabels name="{BOX_TAG}" toName="{IMAGE_OBJECT}" canRotate="false">',
        *labels(classes),
        "  </RectangleLabels>",
    ]
    if mask_classes:
        parts += [
            f'  <BrushLabels name="{MASK_TAG}" toName="{IMAGE_OBJECT}">',
            *labels(mask_classes),
            "  </BrushLabels>",
        ]
    parts.append("</View>")
    return "\n".join(parts)


def image_task_data(
    image_uri: str, *, width: int, height: int, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Task data of one image.

    Parameters
    ----------
    image_uri : str
        What the browser loads: a ``data:image/png;base64,...`` URI
        (:func:`cliniloop.connectors.sources.image.png_data_uri`; see "Serving the image" above) or an
        ``http(s)`` URL the annotator's browser can reach. It must give the image at its original
        size (brush masks are decoded at the size shown).
    width, height : int
        The original image's size in pixels (kept in ``meta``).
    meta : mapping, optional
        More to keep with the task (source, series, ...), JSON-able.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} x {height}")
    return {IMAGE_OBJECT: image_uri, "meta": {**dict(meta or {}), "width": int(width), "height": int(height)}}


# -- regions -> result items ---------------------------------------------------------------
def _image_item(region: Rectangle | Mask, from_name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": region.id,
        "from_name": from_name,
        "to_name": IMAGE_OBJECT,
        "type": kind,
        "original_width": region.image_width,
        "original_height": region.image_height,
        "image_rotation": 0,
        "value": value,
    }
    if region.probability is not None:
        item["score"] = region.probability
    return item


def box_item(region: Rectangle) -> dict[str, Any]:
    """A ``rectanglelabels`` item: the box in percent of the original size, rotation 0."""
    w, h = region.image_width, region.image_height
    value = {
        "x": region.x * 100.0 / w,
        "y": region.y * 100.0 / h,
        "width": region.width * 100.0 / w,
        "height": region.height * 100.0 / h,
        "rotation": 0,
        "rectanglelabels": [region.label],
    }
    return _image_item(region, BOX_TAG, "rectanglelabels", value)


def mask_to_brush_rle(mask: NDArray[np.bool_]) -> list[int]:
    """Label Studio brush RLE of a boolean ``(height, width)`` mask (RGBA, row-major, set = 255)."""
    rgba = np.repeat(np.asarray(mask, dtype=bool).ravel(order="C").astype(np.uint8) * 255, 4)
    return [int(b) for b in encode_rle(rgba)]


def brush_rle_to_mask(rle: Sequence[int], height: int, width: int) -> NDArray[np.bool_]:
    """Boolean ``(height, width)`` mask of a Label Studio brush RLE (alpha >= :data:`BRUSH_ALPHA_THRESHOLD`).

    Raises
    ------
    ValueError
        If the RLE is not a list of bytes, is truncated, or does not hold ``height x width`` RGBA pixels.
    """
    if not rle or not all(isinstance(b, int) and 0 <= b <= 255 for b in rle):
        raise ValueError("brush rle must be a non-empty list of byte values (0-255)")
    try:
        flat = decode_rle(list(rle))
    except (ValueError, IndexError) as err:
        raise ValueError(f"brush rle cannot be decoded ({err})") from None
    if flat.size != height * width * 4:
        raise ValueError(f"brush rle holds {flat.size} bytes, not {height} x {width} x 4 = {height * width * 4}")
    return flat.reshape(height, width, 4)[:, :, 3] >= BRUSH_ALPHA_THRESHOLD


def mask_item(region: Mask) -> dict[str, Any]:
    """A ``brushlabels`` item: ``{"format": "rle", "rle": [...], "brushlabels": [label]}``."""
    mask = counts_to_mask(region.counts, region.image_height, region.image_width)
    value = {"format": "rle", "rle": mask_to_brush_rle(mask), "brushlabels": [region.label]}
    return _image_item(region, MASK_TAG, "brushlabels", value)


# -- result items -> regions ---------------------------------------------------------------
def _number(item: Mapping[str, Any], container: Mapping[str, Any], key: str, where: str = "value.") -> float:
    raw = container.get(key)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ConversionError(f"image item {item.get('id')}: {where}{key} is {raw!r}, not a finite number")
    return float(raw)


def _size(item: Mapping[str, Any]) -> tuple[int, int]:
    """``(original_width, original_height)`` of an item, both positive integers."""
    out = []
    for key in ("original_width", "original_height"):
        raw = item.get(key)
        if (
            isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw)
            or raw != int(raw) or raw <= 0
        ):  # fmt: skip
            raise ConversionError(f"image item {item.get('id')}: {key} is {raw!r}, not a positive integer")
        out.append(int(raw))
    if item.get("image_rotation"):
        log.warning("image item %s: image_rotation %s ignored", item.get("id"), item.get("image_rotation"))
    return out[0], out[1]


def _label(item: Mapping[str, Any], key: str) -> str | None:
    labels = (item.get("value") or {}).get(key) or []
    if not labels:
        log.warning("image item %s has no %s; ignored", item.get("id"), key)
        return None
    if len(labels) > 1:
        log.warning("image item %s has %d labels %s; keeping the first", item.get("id"), len(labels), labels)
    return str(labels[0])


def _probability(item: Mapping[str, Any]) -> float | None:
    score = item.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    return float(score) if 0.0 <= score <= 1.0 else None


def decode_box(item: Mapping[str, Any], _task_text: str | None = None) -> Rectangle | None:
    """A ``rectanglelabels`` item -> :class:`Rectangle` in pixels, clipped to the image.

    A rotated rectangle (``value.rotation`` != 0, degrees clockwise about its top-left corner
    ``(x, y)``, in pixels, as Label Studio draws it) becomes the axis-aligned box around its four
    corners: our boxes have no angle, and the enclosing box keeps every pixel the annotator
    included. A box with no area inside the image is dropped with a warning, as is one without
    a label.

    Raises
    ------
    ConversionError
        If ``original_width``/``original_height`` or ``value.x/y/width/height/rotation`` are
        missing or not finite numbers, or ``width``/``height`` are negative.
    """
    value = item.get("value")
    if not isinstance(value, Mapping):
        raise ConversionError(f"image item {item.get('id')}: value is {value!r}, not an object")
    label = _label(item, "rectanglelabels")
    if label is None:
        return None
    img_w, img_h = _size(item)
    x, y, w, h = (_number(item, value, k) for k in ("x", "y", "width", "height"))
    if w < 0 or h < 0:
        raise ConversionError(f"image item {item.get('id')}: value.width/height ({w}, {h}) is negative")
    rotation = _number(item, value, "rotation") if value.get("rotation") is not None else 0.0
    x, w = x * img_w / 100.0, w * img_w / 100.0
    y, h = y * img_h / 100.0, h * img_h / 100.0
    if rotation % 360.0:
        theta = math.radians(rotation)
        cos, sin = math.cos(theta), math.sin(theta)
        xs = [x, x + w * cos, x + w * cos - h * sin, x - h * sin]
        ys = [y, y + w * sin, y + w * sin + h * cos, y + h * cos]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    else:
        x0, x1, y0, y1 = x, x + w, y, y + h
    x0, x1 = min(max(x0, 0.0), img_w), min(max(x1, 0.0), img_w)
    y0, y1 = min(max(y0, 0.0), img_h), min(max(y1, 0.0), img_h)
    if x1 <= x0 or y1 <= y0:
        log.warning("box %s has no area inside the %d x %d image; ignored", item.get("id"), img_w, img_h)
        return None
    try:
        return Rectangle(
            id=str(item["id"]), label=label, x=x0, y=y0, width=x1 - x0, height=y1 - y0,
            image_width=img_w, image_height=img_h, probability=_probability(item),
        )  # fmt: skip
    except (KeyError, ValidationError) as err:
        raise ConversionError(f"image item {item.get('id')} is not a valid box: {err}") from err


def polygon_to_mask(points_px: Sequence[Sequence[float]], height: int, width: int) -> NDArray[np.bool_]:
    """Rasterise a polygon given in pixel-edge coordinates: the pixels whose centres lie inside (or on its edge)."""
    from skimage.draw import polygon

    pts = np.asarray(points_px, dtype=float)
    mask = np.zeros((height, width), dtype=bool)
    # pixel (r, c) has its centre at (c + 0.5, r + 0.5) in edge coordinates
    rr, cc = polygon(pts[:, 1] - 0.5, pts[:, 0] - 0.5, shape=(height, width))
    mask[rr, cc] = True
    return mask


def decode_mask(item: Mapping[str, Any], _task_text: str | None = None) -> Mask | None:
    """A ``brushlabels`` (or ``polygonlabels``) item -> :class:`Mask` (column-major COCO counts).

    Brush pixels count when their alpha is at least :data:`BRUSH_ALPHA_THRESHOLD`. A polygon
    (``value.points``, ``[x, y]`` pairs in percent) is rasterised at the original size: a pixel
    is in the mask when its centre is inside the polygon (or on its edge). Items without a label, and masks
    with no pixel set, are dropped with a warning.

    Raises
    ------
    ConversionError
        If the size, the RLE (not ``format: "rle"``, undecodable, wrong pixel count) or the
        points are missing or malformed.
    """
    value = item.get("value")
    if not isinstance(value, Mapping):
        raise ConversionError(f"image item {item.get('id')}: value is {value!r}, not an object")
    kind = item.get("type")
    is_polygon = kind == "polygonlabels" or ("points" in value and "rle" not in value)
    label = _label(item, "polygonlabels" if is_polygon else "brushlabels")
    if label is None:
        return None
    img_w, img_h = _size(item)
    if is_polygon:
        points = value.get("points")
        if not isinstance(points, Sequence) or len(points) < 3:
            raise ConversionError(f"image item {item.get('id')}: value.points is not a list of 3 or more [x, y]")
        px = []
        for i, point in enumerate(points):
            if not isinstance(point, Sequence) or len(point) != 2:
                raise ConversionError(f"image item {item.get('id')}: value.points[{i}] is {point!r}, not [x, y]")
            pair = dict(zip("xy", point, strict=True))
            px.append((_number(item, pair, "x", f"value.points[{i}].") * img_w / 100.0,
                       _number(item, pair, "y", f"value.points[{i}].") * img_h / 100.0))  # fmt: skip
        mask = polygon_to_mask(px, img_h, img_w)
    else:
        if value.get("format", "rle") != "rle":
            raise ConversionError(f"image item {item.get('id')}: value.format is {value.get('format')!r}, not 'rle'")
        rle = value.get("rle")
        if not isinstance(rle, list):
            raise ConversionError(f"image item {item.get('id')}: value.rle is {type(rle).__name__}, not a list")
        try:
            mask = brush_rle_to_mask(rle, img_h, img_w)
        except ValueError as err:
            raise ConversionError(f"image item {item.get('id')}: value.rle: {err}") from None
    if not mask.any():
        log.warning("mask %s has no pixel inside the %d x %d image; ignored", item.get("id"), img_w, img_h)
        return None
    try:
        return Mask(
            id=str(item["id"]), label=label, counts=mask_to_counts(mask), image_width=img_w, image_height=img_h,
            probability=_probability(item),
        )  # fmt: skip
    except (KeyError, ValidationError) as err:
        raise ConversionError(f"image item {item.get('id')} is not a valid mask: {err}") from err
