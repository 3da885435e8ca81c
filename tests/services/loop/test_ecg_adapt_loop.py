"""Patient adaptation in the ECG loop: corrections re-predict their own recording only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("neurokit2")
pytest.importorskip("torch")

from cliniloop.services.core.schemas import AnnotationIn, regions_from_json  # noqa: E402
from cliniloop.services.core.store import Store  # noqa: E402
from cliniloop.services.loop.ecg import ECG_MODEL_NAME, ingest_ecg, predict_ecg  # noqa: E402
from tests.models.ecg.test_classify import _synthetic_record  # noqa: E402


class _ReferenceDetector:
    """Returns the synthetic records' own beat positions (the loop, not detection, is under test)."""

    version = "reference-test"

    def __init__(self, beats: dict[int, np.ndarray]):
        self.beats = beats

    def detect_chunked(self, read, n_samples, sampling_rate, **_kw):
        from types import SimpleNamespace

        samples = self.beats[n_samples]
        return SimpleNamespace(samples=samples, confidence=np.full(len(samples), 0.9))


def _write(folder: Path, rec) -> None:
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(rec.name, fs=rec.sampling_rate, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=rec.signal, fmt=["16", "16"], write_dir=str(folder))


def test_corrections_adapt_only_their_own_recording(store: Store, tmp_path: Path) -> None:
    from cliniloop.models.ecg.boosted import BoostedBeatClassifier

    train = [_synthetic_record(n, s, scale=sc) for n, s, sc in (("a", 1, 1.0), ("b", 2, 2.0), ("c", 3, 0.7))]
    clf = BoostedBeatClassifier(n_members=2, n_estimators=20, min_child_samples=5).fit(train)
    one, two = _synthetic_record("one", 7, n_beats=60), _synthetic_record("two", 8, n_beats=70, rate_s=0.7)
    assert len(one.signal) != len(two.signal)
    for rec in (one, two):
        _write(tmp_path / "ecg", rec)
    ingest_ecg(store, tmp_path / "ecg")
    detector = _ReferenceDetector({len(one.signal): one.samples, len(two.signal): two.samples})
    n_windows = store.count_tasks("ecg")
    assert predict_ecg(store, detector, clf) == n_windows
    before = store.latest_predictions(ECG_MODEL_NAME)
    assert predict_ecg(store, detector, clf) == 0  # nothing changed, nothing re-predicted

    # an annotator calls every beat of the first window of "one" V (an unlikely, easy-to-see correction)
    tasks = {t.id: t for t in store.list_tasks("ecg")}
    first = min((t for t in tasks.values() if t.data["record_name"] == "one"), key=lambda t: t.data["core_start"])
    regions = [r.model_copy(update={"label": "V"}) for r in regions_from_json(before[first.id].regions)]
    assert regions
    store.upsert_annotation(AnnotationIn(task_id=first.id, source_annotation_id="1:1", regions=regions))

    n_one = sum(t.data["record_name"] == "one" for t in tasks.values())
    assert predict_ecg(store, detector, clf) == n_one  # only the corrected recording is predicted again
    after = store.latest_predictions(ECG_MODEL_NAME)
    v_share = {}
    for tid, task in tasks.items():
        name = task.data["record_name"]
        if name == "two":
            assert after[tid].model_version == before[tid].model_version
            assert after[tid].regions == before[tid].regions
        else:
            assert "+adapt-" in after[tid].model_version
            labels = [r.label for r in regions_from_json(after[tid].regions)]
            v_share.setdefault(name, []).extend(lab == "V" for lab in labels)
    base_v = [r.label == "V" for tid in tasks if tasks[tid].data["record_name"] == "one" for r in regions_from_json(before[tid].regions)]
    assert np.mean(v_share["one"]) > np.mean(base_v) + 0.1
    corrected_window = [r.label for r in regions_from_json(after[first.id].regions)]
    assert np.mean([lab == "V" for lab in corrected_window]) > 0.6


def test_train_promotes_the_boosted_model_and_it_loads_back(store: Store, train_settings, tmp_path: Path) -> None:
    import wfdb

    from cliniloop.models.ecg.boosted import BoostedBeatClassifier
    from cliniloop.services.loop.ecg_train import load_ecg_classifier, train_ecg_classifier

    folder = tmp_path / "ref"
    names = []
    for name, seed, scale in (("r1", 1, 1.0), ("r2", 2, 2.0), ("r3", 3, 0.7), ("one", 7, 1.0)):  # "one": the dev split
        rec = _synthetic_record(name, seed, scale=scale)
        _write(folder, rec)
        symbols = [{"N": "N", "S": "A", "V": "V"}[c] for c in rec.labels]
        wfdb.wrann(name, "atr", rec.samples, symbol=symbols, fs=rec.sampling_rate, write_dir=str(folder))
        names.append(name)
    (folder / "RECORDS").write_text("\n".join(names) + "\n")
    assert load_ecg_classifier(store, train_settings) is None
    result = train_ecg_classifier(store, train_settings, [folder])
    assert result.version.startswith("beatgbm-") and result.promoted, result.summary()
    loaded = load_ecg_classifier(store, train_settings)
    assert isinstance(loaded, BoostedBeatClassifier) and loaded.version == result.version
