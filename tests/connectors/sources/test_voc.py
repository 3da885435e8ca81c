"""Pascal VOC reading and writing: the 1-based inclusive box convention, checks, and the BCCD dataset."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliniloop.connectors.sources.voc import VocFormatError, VocSizeWarning, load_rgb, read_voc, write_voc_annotation

BCCD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "image" / "bccd"


def _dataset(root: Path, ids: tuple[str, ...] = ("a", "b"), size: tuple[int, int] = (64, 48)) -> Path:
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    for image_id in ids:
        Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8)).save(root / "JPEGImages" / f"{image_id}.jpg")
    return root


def _xml(root: Path, image_id: str, objects: str, size: str = "<width>64</width><height>48</height><depth>3</depth>") -> Path:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    path = root / "Annotations" / f"{image_id}.xml"
    path.write_text(f"<annotation><filename>{image_id}.jpg</filename><size>{size}</size>{objects}</annotation>")
    return path


def _obj(name: str, xmin: str, ymin: str, xmax: str, ymax: str, difficult: str = "0") -> str:
    return (
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def test_voc_convention_is_one_based_inclusive(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a",))
    _xml(root, "a", _obj("cell", "1", "1", "10", "5") + _obj("cell", "20", "30", "20", "30", difficult="1"))
    (image,) = read_voc(root)
    np.testing.assert_array_equal(image.target.boxes, [[0, 0, 10, 5], [19, 29, 20, 30]])  # 1-px box kept
    assert image.target.difficult.tolist() == [False, True]
    assert (image.image_id, image.width, image.height, image.image_path.name) == ("a", 64, 48, "a.jpg")


def test_write_then_read_gives_the_same_boxes(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a",))
    boxes = np.array([[0, 0, 10, 5], [12, 7, 64, 48], [3.4, 2.6, 8.5, 9.49]])
    write_voc_annotation(
        root / "Annotations" / "a.xml", filename="a.jpg", width=64, height=48, depth=3, boxes=boxes, labels=["x", "y", "z"], difficult=[False, True, False]
    )
    text = (root / "Annotations" / "a.xml").read_text()
    assert "<xmin>1</xmin>" in text and "<xmax>10</xmax>" in text and "<xmax>64</xmax>" in text
    (image,) = read_voc(root)
    np.testing.assert_array_equal(image.target.boxes, [[0, 0, 10, 5], [12, 7, 64, 48], [3, 3, 9, 9]])  # rounded, halves up
    assert image.target.labels == ["x", "y", "z"] and image.target.difficult.tolist() == [False, True, False]
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        write_voc_annotation(tmp_path / "bad.xml", filename="a.jpg", width=64, height=48, depth=3, boxes=boxes[:2], labels=["x"])
    with pytest.raises(ValueError, match="box 0"):
        write_voc_annotation(tmp_path / "bad.xml", filename="a.jpg", width=64, height=48, depth=3, boxes=[[5, 5, 5, 9]], labels=["x"])


def test_boxes_are_clipped_and_empty_ones_rejected(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a",))
    _xml(root, "a", _obj("cell", "-3", "0", "80", "60"))
    np.testing.assert_array_equal(read_voc(root)[0].target.boxes, [[0, 0, 64, 48]])
    path = _xml(root, "a", _obj("cell", "1", "1", "5", "5") + _obj("cell", "30", "10", "20", "12"))
    with pytest.raises(VocFormatError, match=r"a\.xml: object\[1\]/bndbox: empty box") as info:
        read_voc(root)
    assert info.value.path == path and info.value.field == "object[1]/bndbox"
    _xml(root, "a", _obj("cell", "70", "1", "90", "5"))  # wholly outside the image
    with pytest.raises(VocFormatError, match="empty box"):
        read_voc(root)


def test_bad_fields_are_named(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a",))
    _xml(root, "a", _obj("cell", "1", "one", "5", "5"))
    with pytest.raises(VocFormatError, match=r"a\.xml: object\[0\]/bndbox/ymin: not a number: 'one'"):
        read_voc(root)
    _xml(root, "a", _obj("", "1", "1", "5", "5"))
    with pytest.raises(VocFormatError, match=r"object\[0\]/name: missing"):
        read_voc(root)
    (root / "Annotations" / "a.xml").write_text("<annotation><object>")
    with pytest.raises(VocFormatError, match="not well-formed XML"):
        read_voc(root)


def test_size_disagreement_trusts_the_image(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a",))
    _xml(root, "a", _obj("cell", "1", "1", "60", "40"), size="<width>100</width><height>80</height><depth>3</depth>")
    with pytest.warns(VocSizeWarning, match="100 x 80 px but a.jpg is 64 x 48 px"):
        (image,) = read_voc(root)
    assert (image.width, image.height) == (64, 48)


def test_ids_file_list_and_missing_entries(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a", "b", "c"))
    for image_id in ("a", "b", "c"):
        _xml(root, image_id, _obj("cell", "1", "1", "5", "5"))
    (root / "val.txt").write_text("c\n\n  a  \n")
    assert [image.image_id for image in read_voc(root, root / "val.txt")] == ["c", "a"]
    assert [image.image_id for image in read_voc(root, ["b"])] == ["b"]
    assert [image.image_id for image in read_voc(root)] == ["a", "b", "c"]
    with pytest.raises(VocFormatError, match=r"zz\.xml: no annotation for id 'zz'"):
        read_voc(root, ["a", "zz"])
    (root / "JPEGImages" / "b.jpg").unlink()
    with pytest.raises(VocFormatError, match=r"b\.xml: filename: no image for id 'b'"):
        read_voc(root, ["b"])
    with pytest.raises(VocFormatError, match="no such id list"):
        read_voc(root, root / "nope.txt")


def test_min_size_drops_tiny_boxes(tmp_path: Path) -> None:
    root = _dataset(tmp_path, ("a",))
    _xml(root, "a", _obj("cell", "5", "5", "5", "5") + _obj("cell", "1", "1", "9", "9"))
    with pytest.warns(UserWarning, match=r"object\[0\] \(cell\) is 1 x 1 px"):
        (image,) = read_voc(root, min_size_px=2)
    np.testing.assert_array_equal(image.target.boxes, [[0, 0, 9, 9]])


def test_load_rgb_grey_rgba_and_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((5, 7), 40, np.uint8)).save(tmp_path / "g.png")
    grey = load_rgb(tmp_path / "g.png")
    assert grey.shape == (5, 7, 3) and grey.dtype == np.uint8 and (grey == 40).all()
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 1] = 100
    rgba[..., 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    assert load_rgb(tmp_path / "a.png")[0, 0].tolist() == [0, 100, 0]


@pytest.mark.skipif(not BCCD.is_dir(), reason=f"BCCD dataset not found at {BCCD}")
def test_bccd_reads_completely() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no size disagreements in BCCD
        images = read_voc(BCCD)
    assert len(images) == 292
    labels = [label for image in images for label in image.target.labels]
    assert {label: labels.count(label) for label in set(labels)} == {"RBC": 3350, "WBC": 301, "Platelets": 292}
    assert {(image.width, image.height) for image in images} == {(640, 480)}
    first = images[0]
    assert first.image_id == "BloodImage_00000" and first.target.labels[0] == "WBC"
    np.testing.assert_array_equal(first.target.boxes[0], [259, 176, 491, 376])
    train, val = read_voc(BCCD, BCCD / "train.txt"), read_voc(BCCD, BCCD / "val.txt")
    assert (len(train), len(val)) == (205, 87) and not {i.image_id for i in train} & {i.image_id for i in val}
    tiny = [(image.image_id, tuple(box)) for image in images for box in image.target.boxes if box[2] - box[0] <= 1]
    assert tiny == [("BloodImage_00338", (503.0, 336.0, 504.0, 337.0)), ("BloodImage_00343", (180.0, 328.0, 181.0, 329.0))]
    assert load_rgb(first.image_path).shape == (480, 640, 3)
