"""Images in a real Label Studio: proposals pushed, one box moved and one deleted through the API,
pulled, exported as COCO in original pixels; a DICOM CT through the same path with its window."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.image import BOX_TAG
from cliniloop.services.core.store import Store
from cliniloop.services.loop.image import (
    IMAGE_MODEL_NAME,
    export_coco,
    image_project_config,
    image_task_data,
    ingest_images,
    labels_in_use,
    load_image_models,
    predict_images,
)
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import push_tasks

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "images"
#: Size (px) of the sample smears (``data_samples/images/generate.py``).
W, H = 640, 480


@pytest.fixture(autouse=True)
def _cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """These round trips use the class-agnostic cold-start proposer (many boxes), not the shipped BCCD default."""
    monkeypatch.setattr("cliniloop.services.loop.first_round.default_box_detector", lambda: None)


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    return store


def _push(store: Store, client: LabelStudioClient, title: str) -> tuple[int, dict, list[dict]]:
    (task,) = store.list_tasks("image")
    boxes, masks = labels_in_use(store)
    config = image_project_config(boxes, masks)
    project_id = client.ensure_project(title, config)
    report = push_tasks(store, client, project_id, [task.id], model_name=IMAGE_MODEL_NAME, label_config=config, task_data=image_task_data)
    assert report.created == [task.id]
    (exported,) = client.export_json(project_id)
    (prediction,) = [p if isinstance(p, dict) else p.model_dump() for p in client.sdk.predictions.list(task=exported["id"])]
    return project_id, exported, prediction["result"]


def _decoded_png(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_corrected_boxes_come_back_as_coco_in_original_pixels(ls_client: LabelStudioClient, tmp_path: Path) -> None:
    store = _store(tmp_path)
    ingest_images(store, SAMPLES / "JPEGImages" / "smear_01.png")
    predict_images(store, load_image_models(store, tmp_path / "models"))
    project_id, exported, result = _push(store, ls_client, "cliniloop image test")
    assert _decoded_png(exported["data"]["image"]).shape[:2] == (H, W)
    boxes = [item for item in result if item["from_name"] == BOX_TAG]
    assert len(boxes) >= 5 and all(b["original_width"] == W and b["original_height"] == H for b in boxes)

    # the annotator moves the first box 10 px right and 5 px down, deletes the second, relabels the rest RBC
    moved, deleted, kept = boxes[0], boxes[1], boxes[2:]
    corrected = []
    for item in [moved, *kept]:
        value = dict(item["value"], rectanglelabels=["RBC"])
        if item is moved:
            value["x"] += 10 / W * 100
            value["y"] += 5 / H * 100
        corrected.append({k: v for k, v in item.items() if k != "score"} | {"value": value})
    ls_client.create_annotation(exported["id"], corrected)
    pulled = pull_annotations(store, ls_client, project_id)
    assert pulled.created == 1

    out = tmp_path / "export.json"
    export_coco(store, out, only_corrected=True)
    doc = json.loads(out.read_text())
    assert [img["width"] for img in doc["images"]] == [W] and doc["images"][0]["region_source"] == "annotation"
    got = sorted(tuple(round(v, 2) for v in a["bbox"]) for a in doc["annotations"])

    def px(item: dict, dx: float = 0.0, dy: float = 0.0) -> tuple[float, ...]:
        v = item["value"]
        return tuple(round(b, 2) for b in (v["x"] * W / 100 + dx, v["y"] * H / 100 + dy, v["width"] * W / 100, v["height"] * H / 100))

    assert got == sorted([px(moved, 10, 5), *(px(k) for k in kept)])
    assert px(deleted) not in got
    assert {c["name"] for c in doc["categories"]} == {"RBC"}


def test_dicom_ct_goes_through_with_its_window(ls_client: LabelStudioClient, tmp_path: Path) -> None:
    import pydicom
    import pydicom.data

    from cliniloop.connectors.sources.image import open_image

    ct = Path(pydicom.data.__file__).parent / "test_files" / "CT_small.dcm"
    store = _store(tmp_path)
    ingest_images(store, ct, window="soft_tissue")
    (task,) = store.list_tasks("image")
    predict_images(store, load_image_models(store, tmp_path / "models"))
    project_id, exported, result = _push(store, ls_client, "cliniloop CT test")

    shown = _decoded_png(exported["data"]["image"])
    assert shown.shape == (128, 128)
    # what the annotator sees is the soft-tissue window (centre 50 HU, width 400 HU) of the modality-LUT values
    ds = pydicom.dcmread(ct)
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = np.clip((hu - (50 - 200)) / 400 * 255, 0, 255)
    assert np.abs(shown.astype(float) - expected).mean() < 2.0
    assert np.array_equal(shown, open_image(ct, window="soft_tissue")[0].pixels)
    assert str(ds.PatientName) not in json.dumps(exported["data"])
    assert exported["data"]["meta"]["pixel_spacing_mm"] == pytest.approx([0.661468, 0.661468])

    # the annotator draws one box in percent; COCO has it in the CT's pixels
    item = {"id": "ct1", "from_name": BOX_TAG, "to_name": "image", "type": "rectanglelabels", "original_width": 128, "original_height": 128,
            "image_rotation": 0, "value": {"x": 25.0, "y": 50.0, "width": 12.5, "height": 25.0, "rotation": 0, "rectanglelabels": ["lesion"]}}  # fmt: skip
    config = image_project_config(["lesion", *labels_in_use(store)[0]], [])
    ls_client.ensure_project("cliniloop CT test", config)
    ls_client.create_annotation(exported["id"], [item])
    pull_annotations(store, ls_client, project_id)
    export_coco(store, tmp_path / "ct.json", only_corrected=True)
    doc = json.loads((tmp_path / "ct.json").read_text())
    assert [a["bbox"] for a in doc["annotations"]] == [[32.0, 64.0, 16.0, 32.0]]
    assert doc["images"][0]["pixel_spacing_mm"] == pytest.approx([0.661468, 0.661468])
    assert task.id == doc["images"][0]["task_id"]
