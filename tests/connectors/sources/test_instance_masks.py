"""Instance-label datasets: pairing, relabelling, boxes from masks, and the DSB 2018 nuclei."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliniloop.connectors.sources.instance_masks import (
    InstanceDatasetError,
    instance_target,
    load_instance_labels,
    load_rgb,
    read_instance_dataset,
)
from cliniloop.services.core.masks import mask_bbox

DSB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "image" / "dsb2018"


def _labels() -> np.ndarray:
    labels = np.zeros((12, 16), dtype=np.uint16)
    labels[1:4, 2:6] = 300
    labels[6:11, 9:15] = 5
    labels[0, 15] = 65535
    return labels


def _dataset(root: Path, names: tuple[str, ...] = ("a", "b"), label_names: tuple[str, ...] | None = None) -> tuple[Path, Path]:
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for name in names:
        Image.fromarray(np.full((12, 16, 4), 120, np.uint8), mode="RGBA").save(images / f"{name}.png")
    for name in label_names if label_names is not None else names:
        Image.fromarray(_labels()).save(labels / f"{name}.png")
    return images, labels


def test_pairs_by_name(tmp_path: Path) -> None:
    images, labels = _dataset(tmp_path, ("b", "a"))
    pairs = read_instance_dataset(images, labels)
    assert [(p.image_id, p.image_path.name, p.label_path.name) for p in pairs] == [("a", "a.png", "a.png"), ("b", "b.png", "b.png")]
    (tmp_path / "ids.txt").write_text("b\n\n")
    assert [p.image_id for p in read_instance_dataset(images, labels, tmp_path / "ids.txt")] == ["b"]
    assert [p.image_id for p in read_instance_dataset(images, labels, ["b", "a"])] == ["b", "a"]


def test_pairing_errors(tmp_path: Path) -> None:
    images, labels = _dataset(tmp_path / "one", ("a", "b"), label_names=("a",))
    with pytest.raises(InstanceDatasetError, match=r"labels: no label image for 1 image\(s\): b\.png"):
        read_instance_dataset(images, labels)
    images, labels = _dataset(tmp_path / "two", ("a",), label_names=("a", "c"))
    with pytest.raises(InstanceDatasetError, match=r"images: no image for 1 label image\(s\): c\.png"):
        read_instance_dataset(images, labels)
    with pytest.raises(InstanceDatasetError, match="no image for id 'zz'"):
        read_instance_dataset(images, labels, ["a", "zz"])
    images, labels = _dataset(tmp_path / "three", ("a", "b"), label_names=("a",))
    with pytest.raises(InstanceDatasetError, match="no label image for id 'b'"):
        read_instance_dataset(images, labels, ["b"])
    with pytest.raises(InstanceDatasetError, match="no such folder"):
        read_instance_dataset(tmp_path / "nope", labels)


def test_labels_are_relabelled_consecutively(tmp_path: Path) -> None:
    Image.fromarray(_labels()).save(tmp_path / "l.png")
    labels = load_instance_labels(tmp_path / "l.png")
    assert labels.dtype == np.int32 and labels.shape == (12, 16)
    assert labels[6, 9] == 1 and labels[1, 2] == 2 and labels[0, 15] == 3  # order of the original values kept
    assert np.array_equal(np.unique(labels), [0, 1, 2, 3])
    colour = np.zeros((6, 6, 3), np.uint8)
    colour[1:3, 1:3] = (255, 0, 0)
    colour[4:6, 4:6] = (0, 0, 9)
    Image.fromarray(colour).save(tmp_path / "c.png")
    assert np.array_equal(np.unique(load_instance_labels(tmp_path / "c.png")), [0, 1, 2])
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(InstanceDatasetError, match=r"bad\.png: unreadable label image"):
        load_instance_labels(tmp_path / "bad.png")


def test_instance_target_boxes_match_mask_bbox() -> None:
    raw = _labels().astype(np.int32)
    target = instance_target(raw, label="cell")  # not consecutive: relabelled first
    labels = target.instance_labels
    assert labels is not None and labels.max() == 3 and target.labels == ["cell"] * 3
    assert target.boxes.shape == (3, 4)
    for k, box in enumerate(target.boxes):
        assert tuple(box) == mask_bbox(labels == k + 1)
    np.testing.assert_array_equal(target.boxes[0], [9, 6, 15, 11])
    empty = instance_target(np.zeros((4, 4), np.int32))
    assert empty.boxes.shape == (0, 4) and empty.labels == []


def test_load_rgb_handles_rgba_and_grey(tmp_path: Path) -> None:
    images, _ = _dataset(tmp_path, ("a",))
    assert load_rgb(images / "a.png").shape == (12, 16, 3)
    Image.fromarray(np.full((12, 16), 77, np.uint8)).save(tmp_path / "g.png")
    grey = load_rgb(tmp_path / "g.png")
    assert grey.shape == (12, 16, 3) and (grey == 77).all()


@pytest.mark.skipif(not DSB.is_dir(), reason=f"DSB 2018 dataset not found at {DSB}")
def test_dsb2018_pairs_and_reads() -> None:
    pairs = read_instance_dataset(DSB / "images", DSB / "labels")
    assert len(pairs) == 250
    for pair in pairs[:5]:
        labels = load_instance_labels(pair.label_path)
        image = load_rgb(pair.image_path)
        assert image.shape == (*labels.shape, 3)
        target = instance_target(labels)
        assert len(target.labels) == labels.max() > 0
        k = len(target.labels) // 2
        assert tuple(target.boxes[k]) == mask_bbox(labels == k + 1)
