"""Image regions <-> Label Studio JSON: boxes in percent, masks as Label Studio's brush RLE."""

from __future__ import annotations

import json
import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from label_studio_sdk.converter.brush import decode_rle, encode_rle
from label_studio_sdk.label_interface import LabelInterface

from cliniloop.connectors.label_studio.client import validation_errors
from cliniloop.connectors.label_studio.convert import ConversionError, regions_to_result, result_to_regions
from cliniloop.connectors.label_studio.ecg import BEAT_TAG
from cliniloop.connectors.label_studio.image import (
    BOX_TAG,
    BRUSH_ALPHA_THRESHOLD,
    IMAGE_OBJECT,
    MASK_TAG,
    PALETTE,
    box_item,
    brush_rle_to_mask,
    class_colours,
    decode_box,
    decode_mask,
    image_label_config,
    image_task_data,
    mask_item,
    mask_to_brush_rle,
)
from cliniloop.services.core.masks import counts_to_mask, mask_to_counts
from cliniloop.services.core.schemas import Mask, Rectangle, TextSpan, TimeInstant

CLASSES = [("WBC", "white blood cell"), ("RBC", "red blood cell"), ("odd <&\"'>", "tricky & <escaped> \"name\"")]
MASK_CLASSES = [("nucleus", "cell nucleus"), ("WBC", "same value as a box class")]


def as_mask(region: Mask) -> np.ndarray:
    return counts_to_mask(region.counts, region.image_height, region.image_width)


def mask_region(mask: np.ndarray, label: str = "nucleus", **kw: Any) -> Mask:
    h, w = mask.shape
    return Mask(counts=mask_to_counts(mask), image_width=w, image_height=h, label=label, **kw)


def box_json(x: float, y: float, w: float, h: float, rotation: float = 0.0, size: tuple[int, int] = (200, 100),
             label: str = "WBC", rid: str = "b1") -> dict[str, Any]:  # fmt: skip
    return {
        "id": rid, "from_name": BOX_TAG, "to_name": IMAGE_OBJECT, "type": "rectanglelabels",
        "original_width": size[0], "original_height": size[1],
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]},
    }  # fmt: skip


# -- config and task data ------------------------------------------------------------------
def test_config_is_xml_with_one_label_per_class_and_escaped_attributes() -> None:
    config = image_label_config(CLASSES, MASK_CLASSES)
    root = ET.fromstring(config)
    image = root.find("Image")
    assert image is not None and image.attrib == {
        "name": "image", "value": "$image", "zoom": "true", "zoomControl": "true", "rotateControl": "false",
    }  # fmt: skip
    boxes = root.find("RectangleLabels")
    assert boxes is not None and boxes.get("name") == BOX_TAG and boxes.get("toName") == IMAGE_OBJECT
    assert [(lab.get("value"), lab.get("hint")) for lab in boxes] == CLASSES
    brush = root.find("BrushLabels")
    assert brush is not None and brush.get("name") == MASK_TAG and brush.get("toName") == IMAGE_OBJECT
    assert [(lab.get("value"), lab.get("hint")) for lab in brush] == MASK_CLASSES
    # the same class has the same colour in both controls, and every colour is from the palette
    colours = {(ctrl.tag, lab.get("value")): lab.get("background") for ctrl in (boxes, brush) for lab in ctrl}
    assert colours[("RectangleLabels", "WBC")] == colours[("BrushLabels", "WBC")]
    assert set(colours.values()) <= set(PALETTE)
    # Label Studio's own parser reads the same controls and labels
    li = LabelInterface(config)
    assert sorted(li.get_control(BOX_TAG).labels) == sorted(v for v, _ in CLASSES)
    assert sorted(li.get_control(MASK_TAG).labels) == sorted(v for v, _ in MASK_CLASSES)


def test_config_without_mask_classes_has_no_brush_control() -> None:
    root = ET.fromstring(image_label_config(CLASSES[:2]))
    assert root.find("BrushLabels") is None and len(root.find("RectangleLabels")) == 2  # type: ignore[arg-type]


def test_class_colours_are_stable_and_distinct() -> None:
    values = [f"class {i}" for i in range(10)]
    colours = class_colours(values)
    assert colours == class_colours(list(reversed(values)))  # order does not matter
    assert len(set(colours.values())) == len(values)  # distinct while the palette has room
    assert class_colours(["WBC", "RBC"]) == class_colours(["RBC", "WBC"])


def test_task_data_keeps_the_uri_size_and_meta() -> None:
    uri = "data:image/png;base64,iVBORw0KGgo="
    data = image_task_data(uri, width=37, height=53, meta={"source": "ct.dcm", "series": 3})
    assert data == {"image": uri, "meta": {"source": "ct.dcm", "series": 3, "width": 37, "height": 53}}
    json.dumps(data)
    with pytest.raises(ValueError):
        image_task_data(uri, width=0, height=53)


# -- boxes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "y", "w", "h", "size"),
    [
        (0.0, 0.0, 37.0, 53.0, (37, 53)),  # the whole image
        (10.5, 3.25, 20.125, 7.75, (37, 53)),
        (1.0 / 3, 2.0 / 7, 11.0 / 13, 5.0 / 9, (37, 53)),
        (510.3, 0.7, 0.9, 1023.3, (512, 1024)),
        (12345.678, 9876.543, 1.001, 2.002, (40000, 30000)),
    ],
)
def test_box_round_trip_is_within_a_hundredth_of_a_pixel(
    x: float, y: float, w: float, h: float, size: tuple[int, int]
) -> None:
    region = Rectangle(x=x, y=y, width=w, height=h, image_width=size[0], image_height=size[1], label="WBC",
                       probability=0.73)  # fmt: skip
    item = box_item(region)
    assert item["type"] == "rectanglelabels" and item["from_name"] == BOX_TAG and item["to_name"] == IMAGE_OBJECT
    assert item["id"] == region.id and item["score"] == 0.73
    assert (item["original_width"], item["original_height"]) == size
    assert item["value"]["rotation"] == 0 and item["value"]["rectanglelabels"] == ["WBC"]
    assert item["value"]["x"] == pytest.approx(100 * x / size[0])
    back = decode_box(json.loads(json.dumps(item)), None)
    assert back is not None
    for field in ("x", "y", "width", "height"):
        assert abs(getattr(back, field) - getattr(region, field)) < 0.01, field
    assert back.model_copy(update={f: getattr(region, f) for f in ("x", "y", "width", "height")}) == region


def test_box_without_probability_has_no_score() -> None:
    item = box_item(Rectangle(x=1, y=2, width=3, height=4, image_width=10, image_height=10, label="RBC"))
    assert "score" not in item
    assert decode_box(item, None).probability is None  # type: ignore[union-attr]


def test_box_is_clipped_to_the_image() -> None:
    # drawn past the bottom-right corner and from left of the image
    box = decode_box(box_json(-5.0, 90.0, 50.0, 20.0), None)
    assert box is not None
    assert (box.x, box.y, box.width, box.height) == pytest.approx((0.0, 90.0, 90.0, 10.0))


def test_box_entirely_outside_or_without_label_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    unlabelled = box_json(10, 10, 10, 10)
    unlabelled["value"]["rectanglelabels"] = []
    with caplog.at_level(logging.WARNING):
        assert decode_box(box_json(120.0, 10.0, 5.0, 5.0, rid="far"), None) is None
        assert decode_box(box_json(10.0, 10.0, 0.0, 5.0, rid="flat"), None) is None
        assert decode_box(unlabelled, None) is None
    assert "far" in caplog.text and "flat" in caplog.text and "b1" in caplog.text


def test_rotated_box_becomes_the_axis_aligned_box_around_it() -> None:
    # 200 x 100 image; a 40 x 20 px box with its top-left corner at (100, 30) px
    cases = {
        90.0: (80.0, 30.0, 20.0, 40.0),  # turned clockwise about (100, 30): x in [80, 100], y in [30, 70]
        180.0: (60.0, 10.0, 40.0, 20.0),
        -90.0: (100.0, 0.0, 20.0, 30.0),  # y in [-10, 30], clipped to [0, 30]
        360.0: (100.0, 30.0, 40.0, 20.0),
    }
    for rotation, expected in cases.items():
        box = decode_box(box_json(50.0, 30.0, 20.0, 20.0, rotation=rotation), None)
        assert box is not None
        assert (box.x, box.y, box.width, box.height) == pytest.approx(expected, abs=1e-9), rotation
    box = decode_box(box_json(50.0, 30.0, 20.0, 20.0, rotation=30.0), None)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    xs = [100, 100 + 40 * c, 100 + 40 * c - 20 * s, 100 - 20 * s]
    ys = [30, 30 + 40 * s, 30 + 40 * s + 20 * c, 30 + 20 * c]
    assert box is not None
    assert (box.x, box.y, box.x + box.width, box.y + box.height) == pytest.approx((min(xs), min(ys), max(xs), max(ys)))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda it: it["value"].pop("x"), "value.x"),
        (lambda it: it["value"].update(width="wide"), "value.width"),
        (lambda it: it["value"].update(height=float("nan")), "value.height"),
        (lambda it: it["value"].update(rotation="left"), "value.rotation"),
        (lambda it: it["value"].update(width=-3), "width"),
        (lambda it: it.pop("original_width"), "original_width"),
        (lambda it: it.update(original_height=0), "original_height"),
        (lambda it: it.update(original_height=10.5), "original_height"),
        (lambda it: it.update(value=None), "value"),
    ],
)
def test_malformed_box_raises_naming_the_item_and_field(mutate: Any, field: str) -> None:
    item = box_json(10, 10, 10, 10, rid="bad-box")
    mutate(item)
    with pytest.raises(ConversionError, match="bad-box") as err:
        decode_box(item, None)
    assert field in str(err.value)


# -- masks ---------------------------------------------------------------------------------
def odd_masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    h, w = 53, 37
    yy, xx = np.mgrid[:h, :w]
    disk = (yy - 20) ** 2 + (xx - 11) ** 2 <= 9**2
    ring = ((yy - 30) ** 2 + (xx - 20) ** 2 <= 15**2) & ((yy - 30) ** 2 + (xx - 20) ** 2 > 6**2)
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True  # touches every edge
    corners = np.zeros((h, w), bool)
    corners[0, 0] = corners[-1, -1] = corners[0, -1] = corners[-1, 0] = True
    diagonal = np.eye(h, w, dtype=bool) | np.eye(h, w, k=5, dtype=bool)
    noise = rng.random((h, w)) < 0.5
    full = np.ones((h, w), bool)
    single = np.ones((1, 1), bool)
    one_pixel_row = np.zeros((1, 7), bool)
    one_pixel_row[0, 6] = True
    tall = np.zeros((301, 3), bool)
    tall[:, 1] = True
    big = np.zeros((300, 400), bool)  # background runs far longer than 2**16 RGBA bytes
    big[150:151, 399] = True
    return [disk, ring, border, corners, diagonal, noise, full, single, one_pixel_row, tall, big]


@pytest.mark.parametrize("index", range(len(odd_masks())))
def test_mask_round_trip_is_exact(index: int) -> None:
    mask = odd_masks()[index]
    region = mask_region(mask, probability=0.25)
    item = mask_item(region)
    assert item["type"] == "brushlabels" and item["from_name"] == MASK_TAG and item["to_name"] == IMAGE_OBJECT
    assert item["id"] == region.id and item["score"] == 0.25
    assert (item["original_width"], item["original_height"]) == (mask.shape[1], mask.shape[0])
    assert item["value"]["format"] == "rle" and item["value"]["brushlabels"] == ["nucleus"]
    assert all(isinstance(b, int) and 0 <= b <= 255 for b in item["value"]["rle"])
    back = decode_mask(json.loads(json.dumps(item)), None)
    assert back == region
    assert np.array_equal(as_mask(back), mask)


def test_brush_rle_layout_is_row_major_rgba_as_the_ui_reads_it() -> None:
    """The UI does ``ImageData(naturalWidth, naturalHeight).data.set(decode(rle))``: row-major RGBA."""
    mask = np.zeros((3, 5), bool)
    mask[0, 1] = mask[2, 4] = mask[1, 0] = True
    raw = decode_rle(mask_to_brush_rle(mask))
    assert raw.size == 3 * 5 * 4
    pixels = raw.reshape(-1, 4)
    set_indices = [i for i, px in enumerate(pixels) if px[3]]
    assert set_indices == [0 * 5 + 1, 1 * 5 + 0, 2 * 5 + 4]  # row * width + column
    assert (pixels[set_indices] == 255).all() and (np.delete(pixels, set_indices, axis=0) == 0).all()


def test_brush_pixels_count_from_half_alpha_and_colour_channels_do_not() -> None:
    # as the UI writes a drawn stroke: all four channels = alpha, antialiased edges below 255
    alpha = np.array([[0, 1, 128], [255, 127, 37]], dtype=np.uint8)
    rgba = np.repeat(alpha.ravel(), 4)
    assert np.array_equal(brush_rle_to_mask(encode_rle(rgba), 2, 3), alpha >= BRUSH_ALPHA_THRESHOLD)
    assert BRUSH_ALPHA_THRESHOLD == 128
    colour_only = np.zeros((2, 3, 4), np.uint8)
    colour_only[..., :3] = 200  # colour without alpha is not painted
    assert not brush_rle_to_mask(encode_rle(colour_only.ravel()), 2, 3).any()


def test_a_stroke_drawn_in_the_label_studio_ui_decodes() -> None:
    """``fixtures/image_brush_stroke.json``: a brush stroke drawn with the mouse in headless Chromium on
    Label Studio 1.23.2 (label "nucleus", 200 x 150 image, a line from about (20, 120) to (100, 130) px)
    and saved with Submit, as the API returned it. Its edges are antialiased."""
    item = json.loads((Path(__file__).parent / "fixtures" / "image_brush_stroke.json").read_text(encoding="utf-8"))
    raw = decode_rle(item["value"]["rle"]).reshape(150, 200, 4)
    assert (raw == raw[..., 3:]).all()  # the UI writes alpha into all four channels
    assert 0 < ((raw[..., 3] > 0) & (raw[..., 3] < 255)).sum()
    mask = decode_mask(item, None)
    assert isinstance(mask, Mask) and mask.label == "nucleus" and mask.id == item["id"] and mask.probability is None
    pixels = as_mask(mask)
    assert np.array_equal(pixels, raw[..., 3] >= 128) and pixels.sum() == 309
    ys, xs = np.nonzero(pixels)
    assert 15 <= xs.min() <= 25 and 95 <= xs.max() <= 105 and 110 <= ys.min() and ys.max() <= 135
    # and it survives our own encoding unchanged
    assert decode_mask(mask_item(mask), None) == mask


def mask_json(rle: Any, size: tuple[int, int] = (37, 53), rid: str = "m1", **value: Any) -> dict[str, Any]:
    return {
        "id": rid, "from_name": MASK_TAG, "to_name": IMAGE_OBJECT, "type": "brushlabels",
        "original_width": size[0], "original_height": size[1],
        "value": {"format": "rle", "rle": rle, "brushlabels": ["nucleus"], **value},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (mask_json("abc"), "value.rle"),
        (mask_json([]), "value.rle"),
        (mask_json([0, 0, 300]), "value.rle"),
        (mask_json([1, 2, 3]), "value.rle"),  # truncated / garbage
        (mask_json(mask_to_brush_rle(np.ones((5, 5), bool))), "value.rle"),  # 5 x 5 pixels, not 37 x 53
        (mask_json([0], format="png"), "value.format"),
        ({**mask_json([0]), "original_width": None}, "original_width"),
        ({**mask_json([0]), "type": "polygonlabels", "value": {"points": [[1, 1], [2, 2]], "polygonlabels": ["x"]}},
         "value.points"),  # fmt: skip
        ({**mask_json([0]), "type": "polygonlabels",
          "value": {"points": [[1, 1], [2, 2], [3]], "polygonlabels": ["x"]}},
         "value.points[2]"),  # fmt: skip
        ({**mask_json([0]), "type": "polygonlabels",
          "value": {"points": [[1, 1], [2, "a"], [3, 3]], "polygonlabels": ["x"]}}, "value.points[1].y"),  # fmt: skip
    ],
)
def test_malformed_mask_raises_naming_the_item_and_field(item: dict[str, Any], field: str) -> None:
    with pytest.raises(ConversionError, match="m1") as err:
        decode_mask(item, None)
    assert field in str(err.value)


def test_empty_or_unlabelled_mask_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    empty = mask_json(mask_to_brush_rle(np.zeros((53, 37), bool)), rid="blank")
    unlabelled = mask_json(mask_to_brush_rle(np.ones((53, 37), bool)), rid="nolabel", brushlabels=[])
    with caplog.at_level(logging.WARNING):
        assert decode_mask(empty, None) is None
        assert decode_mask(unlabelled, None) is None
    assert "blank" in caplog.text and "nolabel" in caplog.text


def polygon_json(points_px: list[tuple[float, float]], size: tuple[int, int] = (37, 53)) -> dict[str, Any]:
    w, h = size
    return {
        "id": "p1", "from_name": MASK_TAG, "to_name": IMAGE_OBJECT, "type": "polygonlabels",
        "original_width": w, "original_height": h, "score": 0.6,
        "value": {"points": [[100 * x / w, 100 * y / h] for x, y in points_px], "closed": True,
                  "polygonlabels": ["nucleus"]},
    }  # fmt: skip


def test_polygon_is_rasterised_by_pixel_centres() -> None:
    # a square with pixel-edge corners covers exactly the pixels inside those edges
    mask = decode_mask(polygon_json([(10, 20), (17, 20), (17, 23), (10, 23)]), None)
    assert isinstance(mask, Mask) and mask.probability == 0.6 and mask.label == "nucleus"
    expected = np.zeros((53, 37), bool)
    expected[20:23, 10:17] = True
    assert np.array_equal(as_mask(mask), expected)
    # a right triangle: pixels whose centre is on or below the diagonal from (0, 0) to (37, 53)
    tri = decode_mask(polygon_json([(0, 0), (0, 53), (37, 53)]), None)
    assert tri is not None
    yy, xx = np.mgrid[:53, :37] + 0.5
    assert np.array_equal(as_mask(tri), yy * 37 >= xx * 53)
    # a polygon reaching past the image is cut at its edges
    big = decode_mask(polygon_json([(-5, -5), (50, -5), (50, 60), (-5, 60)]), None)
    assert big is not None and as_mask(big).all()


# -- through convert -----------------------------------------------------------------------
def test_mixed_results_with_text_and_ecg_items_round_trip() -> None:
    text = "Patient has pneumonia."
    mask = odd_masks()[0]
    regions = [
        TextSpan(label="Problem", start=12, end=21, text="pneumonia", probability=0.8,
                 attributes={"assertion": "present"}),  # fmt: skip
        Rectangle(x=3.5, y=4.25, width=10, height=20, image_width=37, image_height=53, label="WBC", probability=0.9),
        TimeInstant(label="N", time_s=1.25),
        mask_region(mask, label="nucleus", probability=0.4),
        Rectangle(x=0, y=0, width=37, height=53, image_width=37, image_height=53, label="RBC"),
    ]
    result = json.loads(json.dumps(regions_to_result(regions)))
    assert [it["type"] for it in result] == [
        "labels", "rectanglelabels", "timeserieslabels", "brushlabels", "rectanglelabels",
    ]  # fmt: skip
    assert [it["from_name"] for it in result][1:4] == [BOX_TAG, BEAT_TAG, MASK_TAG]
    back = result_to_regions(result, task_text=text)
    assert back[0] == regions[0] and back[2] == regions[2] and back[3] == regions[3]
    for ours, theirs in ((regions[1], back[1]), (regions[4], back[4])):
        assert isinstance(theirs, Rectangle)
        assert theirs == ours.model_copy(update={f: getattr(theirs, f) for f in ("x", "y", "width", "height")})
        assert max(abs(getattr(theirs, f) - getattr(ours, f)) for f in ("x", "y", "width", "height")) < 0.01


def test_image_predictions_pass_label_studio_validation() -> None:
    config = image_label_config(CLASSES, MASK_CLASSES)
    regions = [
        Rectangle(x=1, y=2, width=3, height=4, image_width=37, image_height=53, label="odd <&\"'>", probability=0.5),
        mask_region(odd_masks()[1], label="WBC"),
    ]
    assert validation_errors(config, regions_to_result(regions)) == []
    wrong = regions_to_result([regions[0].model_copy(update={"label": "Platelet"})])
    assert validation_errors(config, wrong)


def test_result_to_regions_raises_for_a_malformed_image_item() -> None:
    with pytest.raises(ConversionError, match="bad-box"):
        result_to_regions([{**box_json(1, 1, 1, 1, rid="bad-box"), "original_width": "wide"}])
