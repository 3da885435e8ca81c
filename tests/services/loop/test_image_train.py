"""Training the image proposers from reference data plus corrections: registry, promotion, lineage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cliniloop.services.core.masks import mask_to_counts
from cliniloop.services.core.schemas import AnnotationIn, Mask, Rectangle
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.image import BOX_MODEL, MASK_MODEL, ingest_images, load_image_models
from cliniloop.services.loop.image_train import (
    VocSource,
    corrected_box_examples,
    corrected_mask_examples,
    load_box_detector,
    train_box_detector,
    train_mask_segmenter,
)

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples" / "images"
#: Size (px) of the sample smears (``data_samples/images/generate.py``).
W, H = 640, 480


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var")


def _correct(store: Store, task_id: str, regions: list) -> None:
    store.upsert_annotation(AnnotationIn(task_id=task_id, source_annotation_id=f"1:{task_id[:6]}", annotator="ann@example.org", regions=regions))


def test_box_detector_trains_on_reference_and_corrections_then_fine_tunes(store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliniloop.services.loop import image_train

    with pytest.raises(ValueError, match="nothing to train on"):
        train_box_detector(store, settings, [], epochs=1)

    ingest_images(store, SAMPLES / "JPEGImages" / "smear_01.png")
    (task,) = store.list_tasks("image")
    box = Rectangle(label="lesion", x=10, y=20, width=30, height=40, image_width=W, image_height=H)
    _correct(store, task.id, [box])
    images, targets, ids = corrected_box_examples(store)
    assert ids == [task.id] and images[0].shape[:2] == (H, W)
    assert targets[0].labels == ["lesion"] and targets[0].boxes.tolist() == [[10.0, 20.0, 40.0, 60.0]]

    # none of the sample images is in the dev split: nothing to measure, so promotion is by hand
    first = train_box_detector(store, settings, [VocSource(SAMPLES)], epochs=1, seed=0)
    assert not first.promoted and first.metric is None and "by hand" in first.reason
    assert store.alias(BOX_MODEL) is None
    meta = json.loads((settings.resolved_models_dir / BOX_MODEL / first.version / "metadata.json").read_text())
    assert meta["corrected_tasks"] == [task.id] and meta["reference_images"] == 4 and meta["parent"] is None
    assert set(meta["classes"]) == {"RBC", "WBC", "Platelets", "lesion"}
    store.promote(BOX_MODEL, first.version)

    # the next prediction pass uses the promoted detector, the next training starts from it
    assert load_image_models(store, settings.resolved_models_dir).box_version == first.version
    monkeypatch.setattr(image_train, "dev_box_ap", lambda model, images, targets: {"class_agnostic_ap": 0.5, "dev_images": 1, "dev_boxes": 1})
    second = train_box_detector(store, settings, [VocSource(SAMPLES)], epochs=1, seed=1)
    assert second.version != first.version and second.promoted, "not worse (equal) than the promoted version"
    assert store.alias(BOX_MODEL) == second.version
    assert store.model_version(BOX_MODEL, second.version).parent == first.version
    assert load_box_detector(store, settings).training_["fine_tuned_from"] == first.version


def test_every_corrected_box_task_is_a_training_example(store: Store) -> None:
    for name in ("smear_01.png", "smear_02.png", "smear_03.png"):
        ingest_images(store, SAMPLES / "JPEGImages" / name)
    tasks = store.list_tasks("image")
    for k, task in enumerate(tasks[:2]):
        box = Rectangle(label=f"lesion{k}", x=10 + k, y=20, width=30, height=40, image_width=W, image_height=H)
        _correct(store, task.id, [box])
    _images, targets, ids = corrected_box_examples(store)
    assert ids == [t.id for t in tasks[:2]]  # the uncorrected third image is left out
    assert [t.labels for t in targets] == [["lesion0"], ["lesion1"]]
    assert [t.boxes.tolist() for t in targets] == [[[10.0, 20.0, 40.0, 60.0]], [[11.0, 20.0, 41.0, 60.0]]]


def test_mask_model_trains_from_corrected_masks(store: Store, settings: Settings) -> None:
    ingest_images(store, SAMPLES / "JPEGImages" / "smear_02.png", kind="masks")
    (task,) = store.list_tasks("image")
    a, b = np.zeros((H, W), bool), np.zeros((H, W), bool)
    a[50:70, 60:90] = True
    b[60:80, 80:100] = True  # overlaps a: the later region wins the shared pixels
    _correct(store, task.id, [Mask(label="cell", counts=mask_to_counts(m), image_width=W, image_height=H) for m in (a, b)])
    _images, labels, ids = corrected_mask_examples(store)
    assert ids == [task.id]
    assert set(np.unique(labels[0])) == {0, 1, 2} and labels[0][65, 85] == 2 and labels[0][55, 65] == 1

    result = train_mask_segmenter(store, settings, [], epochs=1, seed=0)
    meta = json.loads((settings.resolved_models_dir / MASK_MODEL / result.version / "metadata.json").read_text())
    assert meta["corrected_tasks"] == [task.id] and store.model_version(MASK_MODEL, result.version).label_count == 2
    assert not result.promoted and store.alias(MASK_MODEL) is None, "no dev image: nothing to measure, not promoted"
    store.promote(MASK_MODEL, result.version)
    assert load_image_models(store, settings.resolved_models_dir).mask_version == result.version
