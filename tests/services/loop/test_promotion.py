"""Promotion only when not worse, for every trainer: grouped dev splits, the rule, TrainResult, load_promoted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.promotion import (
    TrainResult,
    canonical_modality,
    decide,
    is_dev_group,
    load_promoted,
    model_name_of,
)

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var")


# -- the rule --------------------------------------------------------------------------------------
def test_decide_promotes_only_when_not_worse() -> None:
    better = decide("f1", 0.8, 0.7, baseline_label="the cold-start proposer", dev_size="3 images")
    same = decide("f1", 0.7, 0.7, baseline_label="the cold-start proposer", dev_size="3 images")
    worse = decide("f1", 0.72, 0.793, baseline_label="the cold-start proposer", dev_size="3 images")
    assert better.promote and same.promote and not worse.promote
    assert "refused" in worse.reason and "0.7930" in worse.reason
    assert not decide("f1", 0.75, 0.7, baseline_label="x", dev_size="y", min_delta=0.1).promote
    unmeasured = decide("f1", None, 0.7, baseline_label="x", dev_size="no dev image")
    assert not unmeasured.promote and "by hand" in unmeasured.reason


def test_train_result_summary_and_modalities(store: Store, settings: Settings) -> None:
    r = TrainResult("image-masks", "image-mask-segmenter", "unet-1", "f1", 0.72, 0.793, False, "worse")
    line = r.summary()
    assert "0.7200" in line and "0.7930" in line and "refused" in line and "worse" in line
    assert r.as_dict()["baseline"] == 0.793
    assert canonical_modality("image_masks") == "image-masks" and canonical_modality("ECG") == "ecg"
    assert model_name_of("boxes") == "image-box-detector"
    with pytest.raises(ValueError, match="unknown modality"):
        load_promoted(store, settings, "audio")
    for modality in ("text", "ecg", "eeg", "image-boxes", "image-masks"):
        assert load_promoted(store, settings, modality) is None  # nothing promoted yet


def test_dev_split_is_a_stable_hash_of_the_group_key() -> None:
    keys = [f"record-{i}" for i in range(500)]
    dev = [k for k in keys if is_dev_group(k)]
    assert 60 < len(dev) < 140  # about one in five
    assert dev == [k for k in keys if is_dev_group(k)]


# -- ECG: record-grouped ---------------------------------------------------------------------------
ECG_PARAMS = {"n_members": 2, "n_estimators": 20, "min_child_samples": 5}


def _ecg_folder(folder: Path, swap_train_labels: bool = False) -> None:
    """Three training records and one dev record ("one"); optionally N and V swapped in the training records."""
    pytest.importorskip("lightgbm")
    import wfdb

    from tests.models.ecg.test_classify import _synthetic_record

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for name, seed, scale in (("r1", 1, 1.0), ("r2", 2, 2.0), ("r3", 3, 0.7), ("one", 7, 1.0)):
        rec = _synthetic_record(name, seed, scale=scale)
        wfdb.wrsamp(name, fs=rec.sampling_rate, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=rec.signal, fmt=["16", "16"], write_dir=str(folder))
        table = {"N": "N", "S": "A", "V": "V"}
        if swap_train_labels and not is_dev_group(name):
            table = {"N": "V", "S": "A", "V": "N"}
        wfdb.wrann(name, "atr", rec.samples, symbol=[table[c] for c in rec.labels], fs=rec.sampling_rate, write_dir=str(folder))
        names.append(name)
    (folder / "RECORDS").write_text("\n".join(names) + "\n")


def test_ecg_better_than_cold_start_is_promoted_worse_than_promoted_is_refused(store: Store, settings: Settings, tmp_path: Path) -> None:
    from cliniloop.services.loop.ecg_train import CLASSIFIER_NAME, dev_macro_f1, reference_records, split_records, train_ecg_classifier

    assert is_dev_group("one") and not any(is_dev_group(n) for n in ("r1", "r2", "r3"))
    _ecg_folder(tmp_path / "good")
    train, dev = split_records(reference_records(tmp_path / "good"))
    assert [r.name for r in dev] == ["one"] and {r.name for r in train} == {"r1", "r2", "r3"}
    cold = dev_macro_f1(None, dev)

    first = train_ecg_classifier(store, settings, [tmp_path / "good"], params=ECG_PARAMS)
    assert isinstance(first, TrainResult) and first.modality == "ecg" and first.metric_name == "macro_f1"
    assert first.baseline == pytest.approx(cold) and first.metric > first.baseline
    assert first.promoted and store.alias(CLASSIFIER_NAME) == first.version and "cold-start" in first.reason
    meta = json.loads((settings.resolved_models_dir / CLASSIFIER_NAME / first.version / "metadata.json").read_text())
    assert sorted(meta["training_records"]) == ["r1", "r2", "r3"], "the dev record is never trained on"
    assert load_promoted(store, settings, "ecg").version == first.version

    _ecg_folder(tmp_path / "swapped", swap_train_labels=True)
    second = train_ecg_classifier(store, settings, [tmp_path / "swapped"], params=ECG_PARAMS)
    assert second.version != first.version and not second.promoted
    assert second.baseline == pytest.approx(first.metric) and second.metric < second.baseline
    assert store.alias(CLASSIFIER_NAME) == first.version and "refused" in second.reason
    assert store.model_version(CLASSIFIER_NAME, second.version) is not None, "a refused version is still registered"


# -- EEG: recording/segment-grouped ---------------------------------------------------------------
def _bonn_folder(folder: Path, invert_train: bool = False) -> None:
    """Eight segments per set, copied from the sample segments; optionally S and Z swapped outside the dev split."""
    src = SAMPLES / "eeg" / "bonn_format"
    for s in "ZONFS":
        files = sorted((src / s).glob("*.txt"))
        (folder / s).mkdir(parents=True, exist_ok=True)
        for k in range(8):
            name = f"{s}{k + 1:03d}.txt"
            take = s
            if invert_train and s in "SZ" and not is_dev_group(f"bonn:{s}/{name}"):
                take = "Z" if s == "S" else "S"
            shutil.copyfile(sorted((src / take).glob("*.txt"))[k % len(files)], folder / s / name)


def test_eeg_dev_split_is_segment_grouped_and_worse_is_refused(store: Store, settings: Settings, tmp_path: Path) -> None:
    from cliniloop.services.loop.eeg_train import DETECTOR_NAME, train_eeg_detector

    dev_names = [f"{s}{k:03d}" for s in "ZONFS" for k in range(1, 9) if is_dev_group(f"bonn:{s}/{s}{k:03d}.txt")]
    assert any(n.startswith("S") for n in dev_names) and any(not n.startswith("S") for n in dev_names)
    _bonn_folder(tmp_path / "bonn")
    first = train_eeg_detector(store, settings, bonn_dirs=[tmp_path / "bonn"])
    assert first.modality == "eeg" and first.metric_name == "f1" and first.baseline == 0.0  # the cold start flags nothing
    assert first.metric > 0 and first.promoted and store.alias(DETECTOR_NAME) == first.version
    from cliniloop.services.evaluation.eeg_seizure import segment_features

    row = store.model_version(DETECTOR_NAME, first.version)
    total = len(segment_features(tmp_path / "bonn").labels)
    assert 0 < row.metrics["dev_epochs"] < total and row.label_count + row.metrics["dev_epochs"] == total, "every segment on one side only"

    _bonn_folder(tmp_path / "inverted", invert_train=True)
    second = train_eeg_detector(store, settings, bonn_dirs=[tmp_path / "inverted"])
    assert not second.promoted and second.metric < second.baseline == pytest.approx(first.metric)
    assert store.alias(DETECTOR_NAME) == first.version


# -- images: image-grouped -------------------------------------------------------------------------
#: One short epoch of a small U-Net: far from trained, so worse than the cold-start proposer.
TINY_UNET = {"patches_per_epoch": 16, "patch_size": 64, "width": 8, "depth": 2}


def _disk_images(folder: Path, n: int, size: int = 96) -> list[str]:
    """``n`` synthetic images of bright disks with their instance labels; returns the ids in the dev split."""
    from PIL import Image

    from cliniloop.connectors.sources.image import file_sha256

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    dev = []
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        rng = np.random.default_rng(i)
        img = rng.normal(30, 5, (size, size))
        lab = np.zeros((size, size), np.uint16)
        for k in range(4):
            cy, cx = rng.integers(15, size - 15, 2)
            disk = (yy - cy) ** 2 + (xx - cx) ** 2 < 8**2
            img[disk] = 200
            lab[disk & (lab == 0)] = k + 1
        path = folder / "images" / f"cells{i}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).convert("RGB").save(path)
        Image.fromarray(lab).save(folder / "labels" / f"cells{i}.png")
        if is_dev_group(file_sha256(path)):
            dev.append(f"cells{i}")
    return dev


def test_mask_model_worse_than_the_cold_start_is_refused(store: Store, settings: Settings, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from cliniloop.services.loop.image import MASK_MODEL, ingest_images
    from cliniloop.services.loop.image_train import MaskSource, corrected_mask_examples, train_mask_segmenter

    dev = _disk_images(tmp_path / "set", 8)
    assert 0 < len(dev) < 8
    # the same image ingested and corrected stays on its side: grouped by the file's content
    from cliniloop.services.core.masks import mask_to_counts
    from cliniloop.services.core.schemas import AnnotationIn, Mask

    ingest_images(store, tmp_path / "set" / "images" / f"{dev[0]}.png", kind="masks")
    (task,) = store.list_tasks("image")
    m = np.zeros((96, 96), bool)
    m[10:20, 10:20] = True
    store.upsert_annotation(AnnotationIn(task_id=task.id, source_annotation_id="1:1", regions=[Mask(label="cell", counts=mask_to_counts(m), image_width=96, image_height=96)]))
    assert corrected_mask_examples(store)[2] == [task.id]

    result = train_mask_segmenter(
        store, settings, [MaskSource(tmp_path / "set" / "images", tmp_path / "set" / "labels")], epochs=1, seed=0, params=TINY_UNET
    )
    assert result.modality == "image-masks" and result.metric_name == "f1"
    assert result.baseline is not None and result.baseline > 0.5, "the cold-start proposer finds bright disks"
    assert result.metric < result.baseline and not result.promoted and "refused" in result.reason
    assert store.alias(MASK_MODEL) is None and load_promoted(store, settings, "image-masks") is None
    meta = json.loads((settings.resolved_models_dir / MASK_MODEL / result.version / "metadata.json").read_text())
    assert meta["reference_images"] == 8 - len(dev) and meta["corrected_tasks"] == [], "dev images, corrected or not, are never trained on"
    row = store.model_version(MASK_MODEL, result.version)
    assert row.metrics["dev_images"] == len(dev) + 1 and row.metrics["dev_metric"] == "f1"


def test_box_detector_promoted_when_better_refused_when_worse(store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from PIL import Image

    from cliniloop.connectors.sources.image import file_sha256
    from cliniloop.services.loop import image_train
    from cliniloop.services.loop.image import BOX_MODEL

    voc = tmp_path / "voc"
    (voc / "JPEGImages").mkdir(parents=True)
    (voc / "Annotations").mkdir(parents=True)
    dev_ids, k = [], 0
    while len(dev_ids) < 1 or k < 4:  # variants of the sample images until one falls in the dev split
        src = f"smear_{k % 4 + 1:02d}"
        pixels = np.array(Image.open(SAMPLES / "images" / "JPEGImages" / f"{src}.png").convert("RGB"))
        pixels[0, 0, 0] = (int(pixels[0, 0, 0]) + k) % 256
        Image.fromarray(pixels).save(voc / "JPEGImages" / f"img{k}.png")
        xml = (SAMPLES / "images" / "Annotations" / f"{src}.xml").read_text().replace(f"{src}.png", f"img{k}.png")
        (voc / "Annotations" / f"img{k}.xml").write_text(xml)
        if is_dev_group(file_sha256(voc / "JPEGImages" / f"img{k}.png")):
            dev_ids.append(f"img{k}")
        k += 1
    scores = iter([(0.6, 0.5), (0.4, 0.6)])  # (new, baseline) of the two trainings

    def fake_ap(model, images, targets):
        new, base = scores_now
        return {"class_agnostic_ap": new if model is not None and model.version not in seen else base, "dev_images": len(images), "dev_boxes": 1}

    seen: set[str] = set()
    scores_now = next(scores)
    monkeypatch.setattr(image_train, "dev_box_ap", fake_ap)
    first = image_train.train_box_detector(store, settings, [image_train.VocSource(voc)], epochs=1, seed=0)
    assert first.promoted and first.metric == 0.6 and first.baseline == 0.5 and store.alias(BOX_MODEL) == first.version
    meta = json.loads((settings.resolved_models_dir / BOX_MODEL / first.version / "metadata.json").read_text())
    assert meta["reference_images"] == k - len(dev_ids)
    seen.add(first.version)
    scores_now = next(scores)
    second = image_train.train_box_detector(store, settings, [image_train.VocSource(voc)], epochs=1, seed=1)
    assert not second.promoted and "refused" in second.reason and store.alias(BOX_MODEL) == first.version


# -- learning curves -------------------------------------------------------------------------------
def test_promoted_versions_of_every_trainer_get_learning_curve_points(store: Store, settings: Settings) -> None:
    from cliniloop.services.loop.promotion import register_and_decide
    from cliniloop.services.quality.dashboard_data import learning_curves

    class Model:
        def __init__(self, version: str) -> None:
            self.version = version

        def save(self, folder: Path) -> None:
            (folder / "model.txt").write_text(self.version)

    for i, (value, base) in enumerate(((0.5, 0.4), (0.45, 0.5), (0.7, 0.5))):
        register_and_decide(
            store, settings, modality="ecg", model_name="ecg-beat-classifier", model=Model(f"v{i}"), meta={"parent": None},
            metric_name="macro_f1", metric=value, baseline=base, baseline_label="x", dev_size="1 record", label_count=100 * (i + 1),
            metrics={"accuracy": 0.99},
        )  # fmt: skip
    (curve,) = learning_curves(store)
    assert curve["metric"] == "macro_f1", "the deciding metric, not the first known one"
    assert [(p["version"], p["labels"], p["value"]) for p in curve["points"]] == [("v0", 100, 0.5), ("v2", 300, 0.7)]


# -- text: task-grouped ----------------------------------------------------------------------------
def test_text_tagger_worse_than_the_cold_start_rules_is_refused(store: Store, label_tasks, train_settings: Settings) -> None:
    from cliniloop.services.core.schemas import AnnotationIn, TextSpan
    from cliniloop.services.loop.predict import NER_MODEL_NAME, rule_annotator
    from cliniloop.services.loop.train import is_dev_task, train_text

    ids = label_tasks(30, swap_labels=True)  # training notes: Problem and Medication swapped (garbage labels)
    dev = [(i, tid) for i, tid in enumerate(ids) if is_dev_task(tid)]
    assert dev
    texts = [store.get_task(tid).data["text"] for _, tid in dev]
    for (i, tid), text, mentions in zip(dev, texts, rule_annotator().predict(texts), strict=True):
        # the dev notes are labelled exactly as the rules see them: the cold start is perfect there
        regions = [TextSpan(start=m.start, end=m.end, text=text[m.start : m.end], label=m.label) for m in mentions]
        store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=f"1:{i}", regions=regions))
    result = train_text(store, train_settings)
    assert result.modality == "text" and result.metric_name == "f1" and result.baseline == pytest.approx(1.0)
    assert result.metric < 1.0 and not result.promoted and "cold-start rules" in result.reason
    assert store.alias(NER_MODEL_NAME) is None and load_promoted(store, train_settings, "text") is None
