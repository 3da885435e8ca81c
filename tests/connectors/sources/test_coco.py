"""COCO JSON: document layout, round trip with boxes and masks, polygons, compressed RLE, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.sources.coco import CocoFormatError, CocoImage, CocoRegion, coco_document, read_coco, write_coco
from cliniloop.services.core.masks import counts_to_mask, mask_to_counts


def _mask(height: int, width: int, rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[rows, cols] = True
    return mask


def _images() -> list[CocoImage]:
    blob = _mask(20, 30, slice(2, 6), slice(3, 10))
    blob[5, 3] = False  # not a full rectangle: area differs from w * h
    return [
        CocoImage(
            "scan1.png",
            30,
            20,
            [
                CocoRegion("nodule", (3.0, 2.0, 10.0, 6.0), counts=mask_to_counts(blob), score=0.75, attributes={"source": "model"}),
                CocoRegion("vessel", (0.5, 1.25, 12.0, 19.0)),
            ],
            extra={"pixel_spacing_mm": [0.7, 0.7], "task_id": 12},
        ),
        CocoImage("scan2.png", 8, 4, []),
        CocoImage("scan3.png", 8, 4, [CocoRegion("vessel", (1, 1, 2, 3))]),
    ]


def test_document_layout() -> None:
    doc = coco_document(_images(), ["nodule", "vessel"], info={"description": "test"})
    assert doc["info"] == {"description": "test"}
    assert [c["id"] for c in doc["categories"]] == [1, 2] and doc["categories"][1]["name"] == "vessel"
    assert [(i["id"], i["file_name"]) for i in doc["images"]] == [(1, "scan1.png"), (2, "scan2.png"), (3, "scan3.png")]
    assert doc["images"][0]["pixel_spacing_mm"] == [0.7, 0.7] and doc["images"][0]["task_id"] == 12
    first, second, third = doc["annotations"]
    assert [a["id"] for a in doc["annotations"]] == [1, 2, 3] and third["image_id"] == 3
    assert first["bbox"] == [3.0, 2.0, 7.0, 4.0] and first["category_id"] == 1 and first["iscrowd"] == 0
    assert first["segmentation"]["size"] == [20, 30] and first["area"] == 27.0 and first["score"] == 0.75
    assert first["attributes"] == {"source": "model"}
    assert "segmentation" not in second and "score" not in second and second["area"] == pytest.approx(11.5 * 17.75)
    with pytest.raises(ValueError, match="label 'tumour' is not one of the categories"):
        coco_document([CocoImage("x.png", 4, 4, [CocoRegion("tumour", (0, 0, 1, 1))])], ["nodule"])
    with pytest.raises(ValueError, match="extra may not set"):
        coco_document([CocoImage("x.png", 4, 4, [], extra={"id": 7})], ["nodule"])
    with pytest.raises(ValueError, match="counts add up to 5"):
        coco_document([CocoImage("x.png", 4, 4, [CocoRegion("nodule", (0, 0, 1, 1), counts=[2, 3])])], ["nodule"])


def test_round_trip_with_masks_and_boxes(tmp_path: Path) -> None:
    images = _images()
    path = tmp_path / "out" / "coco.json"
    write_coco(path, coco_document(images, ["nodule", "vessel"]))
    assert [p.name for p in path.parent.iterdir()] == ["coco.json"]  # no temporary file left
    back = read_coco(path)
    assert [(i.file_name, i.width, i.height) for i in back] == [(i.file_name, i.width, i.height) for i in images]
    assert back[0].extra == {"pixel_spacing_mm": [0.7, 0.7], "task_id": 12}
    for original, read in zip(images, back, strict=True):
        assert read.regions == original.regions  # label, box, counts, score, attributes
    assert back[0].regions[0].counts == images[0].regions[0].counts and back[1].regions == []


def test_numpy_values_are_written(tmp_path: Path) -> None:
    doc = {"images": [{"id": np.int64(1), "file_name": "a.png", "width": np.int32(4), "height": 4, "spacing": np.array([0.5, 0.5])}], "categories": []}
    write_coco(tmp_path / "n.json", doc)
    assert json.loads((tmp_path / "n.json").read_text())["images"][0]["spacing"] == [0.5, 0.5]


def _document(annotation: dict, width: int = 20, height: int = 16) -> dict:
    return {
        "images": [{"id": 7, "file_name": "a.png", "width": width, "height": height}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 3, **annotation}],
        "categories": [{"id": 3, "name": "cell"}],
    }


def _read(tmp_path: Path, doc: dict) -> list[CocoImage]:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))
    return read_coco(path)


def test_polygons_are_rasterised_on_pixel_edges(tmp_path: Path) -> None:
    square = [0, 0, 10, 0, 10, 10, 0, 10]  # covers columns 0..9 and rows 0..9
    triangle = [12, 2, 18, 2, 12, 8]
    (image,) = _read(tmp_path, _document({"segmentation": [square, triangle]}))
    (region,) = image.regions
    mask = counts_to_mask(region.counts, 16, 20)
    np.testing.assert_array_equal(mask[:, :12], _mask(16, 12, slice(0, 10), slice(0, 10)))
    assert mask[2, 12] and not mask[7, 17] and mask[:, 12:].sum() > 10
    assert region.box == (0.0, 0.0, 18.0, 10.0)  # from the mask: no bbox given
    assert region.label == "cell"


def test_box_from_mask_when_bbox_is_missing(tmp_path: Path) -> None:
    mask = _mask(16, 20, slice(3, 9), slice(4, 15))
    (image,) = _read(tmp_path, _document({"segmentation": {"size": [16, 20], "counts": mask_to_counts(mask)}}))
    assert image.regions[0].box == (4.0, 3.0, 15.0, 9.0)


def _encode_rle_string(counts: list[int]) -> str:
    """pycocotools' rleToString, written out independently of the reader."""
    out = []
    for index, count in enumerate(counts):
        x = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def test_compressed_rle_strings(tmp_path: Path) -> None:
    # worked by hand: the 4th count is coded as 1 - 5 = -4 -> 'L', the 5th as 1 - 1 = 0 -> '0'
    assert _encode_rle_string([2, 5, 1, 1, 1]) == "251L0"
    (image,) = _read(tmp_path, _document({"bbox": [0, 0, 1, 1], "segmentation": {"size": [2, 5], "counts": "251L0"}}, width=5, height=2))
    assert image.regions[0].counts == [2, 5, 1, 1, 1]
    rng = np.random.default_rng(3)
    mask = rng.random((16, 20)) > 0.6
    mask[:, 5:9] = True  # long runs as well as short ones
    counts = mask_to_counts(mask)
    (image,) = _read(tmp_path, _document({"bbox": [0, 0, 20, 16], "segmentation": {"size": [16, 20], "counts": _encode_rle_string(counts)}}))
    assert image.regions[0].counts == counts


@pytest.mark.parametrize(
    ("annotation", "field"),
    [
        ({"category_id": 9, "bbox": [0, 0, 1, 1]}, r"annotations\[0\]\.category_id: unknown category id 9"),
        ({"image_id": 8, "bbox": [0, 0, 1, 1]}, r"annotations\[0\]\.image_id: unknown image id 8"),
        ({"bbox": [0, 0, 1]}, r"annotations\[0\]\.bbox: expected \[x, y, width, height\]"),
        ({"bbox": [0, 0, 0, 4]}, r"annotations\[0\]\.bbox: empty"),
        ({}, r"annotations\[0\]\.bbox: missing"),
        ({"bbox": [0, 0, 1, 1], "segmentation": {"size": [4, 4], "counts": [16]}}, r"annotations\[0\]\.segmentation\.size"),
        ({"bbox": [0, 0, 1, 1], "segmentation": {"size": [16, 20], "counts": [3, 4]}}, r"annotations\[0\]\.segmentation\.counts: mask counts add up to 7"),
        ({"bbox": [0, 0, 1, 1], "segmentation": [[1, 2, 3, 4]]}, r"annotations\[0\]\.segmentation\[0\]: a polygon needs at least 3"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, annotation: dict, field: str) -> None:
    with pytest.raises(CocoFormatError, match=r"in\.json: " + field):
        _read(tmp_path, _document(annotation))


def test_file_level_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CocoFormatError, match=r"bad\.json: not JSON"):
        read_coco(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(CocoFormatError, match="not a bare list"):
        read_coco(tmp_path / "list.json")
    (tmp_path / "noimages.json").write_text('{"categories": []}')
    with pytest.raises(CocoFormatError, match="images: missing"):
        read_coco(tmp_path / "noimages.json")
    with pytest.raises(CocoFormatError, match=r"images\[0\]\.width: must be a positive integer"):
        _read(tmp_path, _document({"bbox": [0, 0, 1, 1]}, width=0))
