"""``cliniloop image ...`` and ``cliniloop eval image-boxes / image-masks`` from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from cliniloop.services.cli.main import app

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples" / "images"


def test_eval_image_boxes_prints_one_json_object_with_cold_start_figures(env: Path) -> None:
    out = CliRunner().invoke(app, ["eval", "image-boxes", "--voc", str(SAMPLES)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["images"] == 4 and result["boxes"] > 0 and "trained" not in result
    cold = result["cold_start"]
    assert 0.0 <= cold["class_agnostic_ap"] <= 1.0 and cold["class_agnostic_recall"] > 0.5 and cold["ms_per_image"] > 0


def test_eval_image_boxes_refuses_overlapping_train_and_test_ids(env: Path) -> None:
    ids = env / "ids.txt"
    ids.write_text("smear_01\nsmear_02\n")
    out = CliRunner().invoke(app, ["eval", "image-boxes", "--voc", str(SAMPLES), "--ids", str(ids), "--train-ids", str(ids)])
    assert out.exit_code == 1 and "both the training and the evaluation" in out.output


def test_eval_image_masks_scores_instances(env: Path) -> None:
    images, labels = env / "images", env / "labels"
    images.mkdir()
    labels.mkdir()
    yy, xx = np.mgrid[:96, :96]
    inst = np.zeros((96, 96), np.uint16)
    for k, (cy, cx) in enumerate([(25, 25), (25, 70), (70, 45)], start=1):
        inst[(yy - cy) ** 2 + (xx - cx) ** 2 <= 12**2] = k
    grey = np.where(inst > 0, 200, 20).astype(np.uint8)
    Image.fromarray(grey).save(images / "a.png")
    Image.fromarray(inst).save(labels / "a.png")
    out = CliRunner().invoke(app, ["eval", "image-masks", "--images", str(images), "--labels", str(labels)])
    assert out.exit_code == 0, out.output
    cold = json.loads(out.stdout)["cold_start"]
    assert cold["precision"] == 1.0 and cold["recall"] == 1.0 and cold["f1"] == 1.0


def test_ingest_predict_export_from_the_command_line(env: Path) -> None:
    folder = env / "imgs"
    shutil.copytree(SAMPLES / "JPEGImages", folder)
    (folder / "broken.png").write_text("not an image")
    runner = CliRunner()
    out = runner.invoke(app, ["image", "ingest", str(folder)])
    assert out.exit_code == 0, out.output
    assert "4 new frames" in out.output and "1 rejected" in out.output and "broken.png" in out.output
    out = runner.invoke(app, ["image", "predict"])
    assert out.exit_code == 0 and "predicted 4 images" in out.output, out.output
    out = runner.invoke(app, ["image", "export", "--out", str(env / "coco.json")])
    assert out.exit_code == 0, out.output
    doc = json.loads((env / "coco.json").read_text())
    assert len(doc["images"]) == 4 and doc["annotations"] and {i["width"] for i in doc["images"]} == {640}
    out = runner.invoke(app, ["image", "export", "--out", str(env / "x"), "--format", "yolo"])
    assert out.exit_code == 2 and "coco or voc" in out.output
