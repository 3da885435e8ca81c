"""Every first-round queue is ranked: with nothing trained, task uncertainties are not all the same (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.services.core.store import Store

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples"


def _distinct(values: list[float]) -> int:
    return len({round(float(v), 6) for v in values})


def test_ecg_first_queue_is_ranked(store: Store) -> None:
    from cliniloop.models.ecg.defaults import load_default
    from cliniloop.models.ecg.detect import BeatDetector
    from cliniloop.services.loop.ecg import ECG_MODEL_NAME, ingest_ecg, predict_ecg

    ingest_ecg(store, SAMPLES / "ecg" / "syn01")
    predict_ecg(store, BeatDetector().fit(), load_default())
    preds = list(store.latest_predictions(ECG_MODEL_NAME).values())
    assert len(preds) >= 3
    assert _distinct([p.uncertainty for p in preds]) > 1, "every ECG window scored the same"
    probs = [r["attributes"]["probs"] for p in preds for r in p.regions]
    assert probs and len({tuple(sorted(pr.items())) for pr in probs}) > 1, "the default classifier gives beats class probabilities"


def test_eeg_first_queue_is_ranked(store: Store) -> None:
    from cliniloop.models.eeg.defaults import load_default
    from cliniloop.services.loop.eeg import EEG_MODEL_NAME, ingest_eeg, predict_eeg

    ingest_eeg(store, SAMPLES / "eeg" / "synthetic_seizures.edf")
    predict_eeg(store, load_default(), sleep=False)
    preds = list(store.latest_predictions(EEG_MODEL_NAME).values())
    assert len(preds) >= 3
    u = [p.uncertainty for p in preds]
    assert _distinct(u) > 1 and max(u) < 1.0, "every EEG window scored the same (1.0 = no model)"


def test_image_first_queue_is_ranked_with_real_classes(store: Store, tmp_path: Path) -> None:
    from cliniloop.models.image.defaults import DEFAULT_DIR
    from cliniloop.services.loop.image import IMAGE_MODEL_NAME, ingest_images, load_image_models, predict_images

    if not (DEFAULT_DIR / "proposals.json").is_file():
        pytest.fail("the default box model is not shipped (scripts/train_default_models.py --only image)")
    ingest_images(store, SAMPLES / "images" / "JPEGImages")
    predict_images(store, load_image_models(store, tmp_path / "models"))
    preds = list(store.latest_predictions(IMAGE_MODEL_NAME).values())
    labels = {r["label"] for p in preds for r in p.regions}
    assert labels and "region" not in labels, f"image classes come from the default's training data, not {labels}"
    region_u = [p.uncertainty for p in preds]
    assert _distinct(region_u) > 1 or len(preds) < 2


def test_text_first_queue_is_ranked() -> None:
    from cliniloop.services.loop.predict import predict_texts, rule_annotator

    texts = sorted((SAMPLES / "notes").glob("*.txt"))[:3]
    preds = predict_texts(rule_annotator(), [(p.stem, p.read_text(encoding="utf-8")) for p in texts])
    assert _distinct([p.uncertainty for p in preds]) > 1


def test_default_load_fails_clearly_on_other_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import shutil

    from cliniloop.models.ecg import defaults

    copy = tmp_path / "default"
    shutil.copytree(defaults.DEFAULT_DIR, copy)
    meta = json.loads((copy / "beatgbm.json").read_text())
    meta["columns"] = meta["columns"][:-1] + ["rr:renamed"]
    (copy / "beatgbm.json").write_text(json.dumps(meta))
    monkeypatch.setattr(defaults, "DEFAULT_DIR", copy)
    defaults.load_default.cache_clear()
    try:
        with pytest.raises(defaults.DefaultModelError, match="train_default_models.py --only ecg"):
            defaults.load_default()
    finally:
        defaults.load_default.cache_clear()


def test_defaults_are_small_and_documented() -> None:
    from cliniloop.models.ecg.defaults import DEFAULT_DIR as ECG
    from cliniloop.models.eeg.defaults import DEFAULT_DIR as EEG
    from cliniloop.models.image.defaults import DEFAULT_DIR as IMAGE

    for folder in (ECG, EEG, IMAGE):
        text = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
        assert "Licence" in text and "Never trained on" in text
        for path in folder.iterdir():
            assert path.stat().st_size < 2_000_000, f"{path} is over 2 MB"
