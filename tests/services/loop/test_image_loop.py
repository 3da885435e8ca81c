"""Image loop steps without Label Studio: ingest, cold-start prediction, uncertainty, export, training from corrections."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cliniloop.services.core.masks import mask_to_counts
from cliniloop.services.core.schemas import AnnotationIn, Mask, Rectangle
from cliniloop.services.core.store import Store
from cliniloop.services.loop.image import (
    IMAGE_MODEL_NAME,
    ImageChangedError,
    export_coco,
    export_voc,
    image_uncertainty,
    ingest_images,
    load_frame,
    load_image_models,
    parse_window,
    predict_images,
    region_uncertainty,
)

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples" / "images"
#: Size (px) of the sample smears (``data_samples/images/generate.py``).
W, H = 640, 480


def _ct_small() -> Path:
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / "CT_small.dcm"
    assert path.exists(), "CT_small.dcm ships in the pydicom wheel"
    return path


def _rect(x: float, y: float, w: float, h: float, label: str = "RBC", p: float | None = None, **attrs: object) -> Rectangle:
    return Rectangle(label=label, x=x, y=y, width=w, height=h, image_width=W, image_height=H, probability=p, attributes=dict(attrs))


def test_parse_window() -> None:
    assert parse_window("lung") == "lung"
    assert parse_window("-600,1500") == (-600.0, 1500.0)
    assert parse_window(None) is None
    with pytest.raises(ValueError, match="CENTER,WIDTH"):
        parse_window("a,b")
    with pytest.raises(ValueError, match="width"):
        parse_window("40,0")


def test_ingest_png_folder_is_idempotent_and_rejects_bad_files(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    shutil.copytree(SAMPLES / "JPEGImages", folder)
    (folder / "broken.png").write_text("not an image", encoding="utf-8")
    report = ingest_images(store, folder)
    assert report.files == 4 and len(report.added) == 4
    assert len(report.errors) == 1 and "broken.png" in str(report.errors[0])
    again = ingest_images(store, folder)
    assert again.added == [] and len(again.existing) == 4
    task = store.list_tasks("image")[0]
    assert (task.data["width"], task.data["height"], task.data["kind"]) == (W, H, "boxes")
    assert "pixels" not in task.data


def test_dicom_ct_keeps_geometry_spacing_and_window(store: Store) -> None:
    ingest_images(store, _ct_small(), window="lung")
    ingest_images(store, _ct_small(), window=(40.0, 400.0), kind="masks")
    tasks = {t.data["kind"]: t for t in store.list_tasks("image")}
    lung, soft = tasks["boxes"], tasks["masks"]
    assert lung.data["units"] == "HU" and lung.data["window_source"] == "preset:lung"
    assert lung.data["pixel_spacing_mm"] == pytest.approx([0.661468, 0.661468])
    assert (lung.data["width"], lung.data["height"]) == (128, 128)
    # rendering again uses the stored window: lung (-600/1500) shows soft tissue brighter than (40/400) does not
    a, b = load_frame(lung.data).pixels, load_frame(soft.data).pixels
    assert a.shape == b.shape == (128, 128) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert "PatientName" not in json.dumps(lung.data) and "CompressedSamples" not in json.dumps(lung.data)


@pytest.fixture
def cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """No default box model: the class-agnostic cold-start proposer predicts (as when the shipped default cannot load)."""
    monkeypatch.setattr("cliniloop.services.loop.first_round.default_box_detector", lambda: None)


def test_cold_start_predictions_rank_and_export_in_original_pixels(store: Store, tmp_path: Path, cold_start: None) -> None:
    ingest_images(store, SAMPLES / "JPEGImages")
    models = load_image_models(store, tmp_path / "models")
    n, errors = predict_images(store, models)
    assert n == 4 and errors == []
    preds = store.latest_predictions(IMAGE_MODEL_NAME)
    for pred in preds.values():
        assert pred.regions, "the synthetic smears have a dozen cells each"
        assert 0.0 <= pred.uncertainty <= 1.0 and pred.score == pytest.approx(1.0 - pred.uncertainty)
    assert predict_images(store, models)[0] == 0, "same models: nothing re-predicted"

    out = tmp_path / "coco.json"
    counts = export_coco(store, out)
    doc = json.loads(out.read_text())
    assert counts["images"] == 4 and len(doc["annotations"]) == counts["regions"] > 20
    ann = doc["annotations"][0]
    x, y, w, h = ann["bbox"]
    assert 0 <= x and x + w <= W and 0 <= y and y + h <= H and "score" in ann

    voc = export_voc(store, tmp_path / "voc", min_score=0.5)
    assert voc["images"] == 4 and len(list((tmp_path / "voc" / "Annotations").glob("*.xml"))) == 4


def test_export_prefers_the_corrected_regions(store: Store, tmp_path: Path) -> None:
    ingest_images(store, SAMPLES / "JPEGImages" / "smear_01.png")
    (task,) = store.list_tasks("image")
    predict_images(store, load_image_models(store, tmp_path / "models"))
    mask = np.zeros((H, W), dtype=bool)
    mask[100:120, 50:81] = True
    store.upsert_annotation(
        AnnotationIn(
            task_id=task.id, source_annotation_id="1:1", annotator="ann@example.org",
            regions=[_rect(10, 20, 30.5, 40, "WBC"), Mask(label="nucleus", counts=mask_to_counts(mask), image_width=W, image_height=H)],
        )
    )  # fmt: skip
    export_coco(store, tmp_path / "c.json", only_corrected=True)
    doc = json.loads((tmp_path / "c.json").read_text())
    boxes = sorted(a["bbox"] for a in doc["annotations"])
    assert boxes == [[10.0, 20.0, 30.5, 40.0], [50.0, 100.0, 31.0, 20.0]]
    assert doc["images"][0]["region_source"] == "annotation"
    masked = [a for a in doc["annotations"] if "segmentation" in a]
    assert len(masked) == 1 and masked[0]["area"] == 31 * 20


def test_changed_file_is_refused_not_mispredicted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    shutil.copy(SAMPLES / "JPEGImages" / "smear_01.png", path)
    ingest_images(store, path)
    shutil.copy(SAMPLES / "JPEGImages" / "smear_02.png", path)
    n, errors = predict_images(store, load_image_models(store, tmp_path / "models"))
    assert n == 0 and len(errors) == 1 and isinstance(errors[0], ImageChangedError) and "a.png" in str(errors[0])


def test_uncertainty_follows_region_scores_and_class_mix() -> None:
    sure = [_rect(0, 0, 5, 5, p=0.99, probs={"RBC": 0.99, "WBC": 0.01})]
    torn = [_rect(0, 0, 5, 5, p=0.5, probs={"RBC": 0.99, "WBC": 0.01})]
    mixed = [_rect(0, 0, 5, 5, p=0.99, probs={"RBC": 0.5, "WBC": 0.5})]
    assert image_uncertainty(sure) < 0.2
    assert image_uncertainty(torn) == pytest.approx(1.0)
    assert region_uncertainty(mixed[0]) == pytest.approx(1.0)
    assert image_uncertainty([]) == 1.0
