"""EEG loop steps on synthetic EDF+ recordings: windows at ingest, planted seizures and artifacts found,
corrections back to seconds, retraining from corrections, EDF+/CSV/TSV export read back by mne."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.sources.eeg_synthetic import PlantedEvent, write_synthetic_edf
from cliniloop.services.core.schemas import AnnotationIn, TimeRange, regions_from_json
from cliniloop.services.core.store import Store
from cliniloop.services.loop.eeg import (
    EEG_MODEL_NAME,
    export_events,
    ingest_eeg,
    merge_pieces,
    predict_eeg,
    rescaled,
    window_events,
)
from cliniloop.services.loop.eeg_train import annotated_recording_rows, epoch_labels

TRAIN_EVENTS = [PlantedEvent(60, 40), PlantedEvent(200, 30, channels=(0, 1, 2, 3)), PlantedEvent(350, 50), PlantedEvent(500, 25)]


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory):
    """A detector trained on a 10-min synthetic recording whose seizures are its own EDF+ annotations."""
    from cliniloop.models.eeg.seizure import SeizureDetector

    path = write_synthetic_edf(tmp_path_factory.mktemp("train") / "train.edf", 600, TRAIN_EVENTS, n_channels=6, seed=1)
    X, y, g = annotated_recording_rows(path, None)
    return SeizureDetector().fit(None, y, g, features=X)


def _recording(folder: Path, name: str = "rec", seed: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    events = [PlantedEvent(70, 30), PlantedEvent(20, 8, "flat", (2,))]
    return write_synthetic_edf(folder / f"{name}.edf", 150, events, n_channels=6, seed=seed)


def test_ingest_makes_windows_and_bad_recordings_store_nothing(store: Store, tmp_path: Path) -> None:
    good = _recording(tmp_path / "eeg")
    truncated = tmp_path / "eeg" / "truncated.edf"
    truncated.write_bytes(good.read_bytes()[:-4000])
    report = ingest_eeg(store, tmp_path / "eeg")
    assert report.records == 1 and len(report.errors) == 1 and "truncated.edf" in str(report.errors[0])
    tasks = sorted(store.list_tasks("eeg"), key=lambda t: t.data["start_s"])
    assert [(t.data["start_s"], t.data["stop_s"]) for t in tasks] == [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 120.0), (120.0, 150.0)]
    assert tasks[0].data["channels"][:2] == ["FP1-F7", "F7-T7"] and len({t.data["montage"] for t in tasks}) == 1
    assert ingest_eeg(store, tmp_path / "eeg").added == []


def test_unknown_channel_and_wrong_rate_reject_the_recording(store: Store, tmp_path: Path) -> None:
    path = _recording(tmp_path / "eeg")
    report = ingest_eeg(store, path, channels=["FP1-F7", "C9-O7"])
    assert report.records == 0 and "no EEG channel 'C9-O7'" in str(report.errors[0]) and "FP1-F7" in str(report.errors[0])
    report = ingest_eeg(store, path, sampling_rate=200)
    assert report.records == 0 and "256 Hz" in str(report.errors[0])
    assert store.list_tasks("eeg") == []


def test_planted_seizure_and_flat_channel_are_predicted_in_their_windows(store: Store, tmp_path: Path, detector) -> None:
    ingest_eeg(store, _recording(tmp_path / "eeg"))
    assert predict_eeg(store, detector, sleep=False) == 5
    preds = store.latest_predictions(EEG_MODEL_NAME)
    events = merge_pieces([e for t in store.list_tasks("eeg") for e in window_events(t, regions_from_json(preds[t.id].regions), "prediction")])
    seizures = [e for e in events if e.label == "seizure"]
    assert len(seizures) == 1 and abs(seizures[0].onset_s - 70) <= 4 and abs(seizures[0].offset_s - 100) <= 4
    flat = [e for e in events if e.label == "artifact" and e.channels == ("T7-P7",)]
    assert flat and flat[0].onset_s <= 22 and flat[0].offset_s >= 26
    by_start = {t.data["start_s"]: preds[t.id] for t in store.list_tasks("eeg")}
    in_window = regions_from_json(by_start[60.0].regions)
    assert any(r.label == "seizure" and r.probability is not None and r.attributes["channels"] for r in in_window)
    # the window holding the seizure onset is among the uncertain ones; a quiet window is sure
    assert by_start[60.0].uncertainty > by_start[120.0].uncertainty
    assert predict_eeg(store, detector, sleep=False) == 0  # same version: nothing new


def test_corrected_boundaries_export_as_edf_annotations_csv_and_tsv(store: Store, tmp_path: Path, detector) -> None:
    import mne

    ingest_eeg(store, _recording(tmp_path / "eeg"))
    predict_eeg(store, detector, sleep=False)
    task = next(t for t in store.list_tasks("eeg") if t.data["start_s"] == 60.0)
    fixed = TimeRange(label="seizure", start_s=9.5, end_s=30.0, attributes={"channels": ["FP1-F7", "F7-T7"]})
    store.upsert_annotation(AnnotationIn(task_id=task.id, source_annotation_id="1:1", regions=[fixed]))
    after = next(t for t in store.list_tasks("eeg") if t.data["start_s"] == 90.0)
    tail = TimeRange(label="seizure", start_s=0.0, end_s=11.25, attributes={"channels": ["FP1-F7", "F7-T7"]})
    store.upsert_annotation(AnnotationIn(task_id=after.id, source_annotation_id="1:2", regions=[tail]))

    written = export_events(store, tmp_path / "out", only_corrected=True)
    assert written == {"rec": 1}  # the two pieces join across the window boundary
    annotations = mne.read_annotations(str(tmp_path / "out" / "rec_events.edf"))
    assert list(annotations.description) == ["seizure@FP1-F7,F7-T7"]
    assert annotations.onset[0] == pytest.approx(69.5, abs=1e-3) and annotations.duration[0] == pytest.approx(31.75, abs=1e-3)
    rows = list(csv.DictReader((tmp_path / "out" / "rec_events.tsv").open(), delimiter="\t"))
    assert rows == [{"onset": "69.5", "duration": "31.75", "trial_type": "seizure", "channel": "FP1-F7;F7-T7", "value": "n/a", "source": "annotation"}]
    from cliniloop.connectors.sources.eeg_events import read_events

    assert [(e.onset_s, e.duration_s, e.channels) for e in read_events(tmp_path / "out" / "rec_events.csv")] == [(69.5, 31.75, ("FP1-F7", "F7-T7"))]


def test_epoch_labels_follow_events_and_corrected_windows() -> None:
    from cliniloop.connectors.sources.eeg_events import EegEvent

    starts = np.arange(0, 40, 2.0)
    events = [EegEvent(11.0, 9.0, "seizure"), EegEvent(30.0, 4.0, "seizure", ("B",)), EegEvent(0.0, 40.0, "artifact")]
    labels = epoch_labels(starts, 4.0, ["A", "B"], events)
    assert labels[starts == 10.0].tolist() == [[1, 1]] and labels[starts == 0.0].tolist() == [[0, 0]]
    assert labels[starts == 18.0].tolist() == [[1, 1]] and labels[starts == 20.0].tolist() == [[0, 0]]
    assert labels[starts == 8.0].tolist() == [[-1, -1]]  # 8-12 s: a quarter inside, left out
    assert labels[starts == 30.0].tolist() == [[-1, 1]]  # only channel B is known ictal
    only = epoch_labels(starts, 4.0, ["A"], events, windows=[(0.0, 12.0)])
    assert only[:, 0].tolist()[:5] == [0, 0, 0, 0, -1] and (only[starts + 4 > 12] == -1).all()


def test_rescaled_maps_the_threshold_to_one_half() -> None:
    assert rescaled(np.array([0.0, 0.2, 1.0]), 0.2).tolist() == [0.0, 0.5, 1.0]
    assert rescaled(np.array([0.1]), 0.2)[0] == pytest.approx(0.25)


def test_retraining_learns_from_corrected_windows(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.eeg_train import DETECTOR_NAME, load_detector, train_eeg_detector

    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    (tmp_path / "eeg").mkdir()
    with pytest.raises(ValueError, match="nothing to train on"):
        train_eeg_detector(store, get_settings())
    from cliniloop.connectors.sources.eeg import open_eeg
    from cliniloop.services.loop.promotion import is_dev_group

    chosen: dict[bool, Path] = {}  # one recording in the dev split (by its content hash), one outside it
    for seed in range(5, 200):
        path = write_synthetic_edf(tmp_path / "eeg" / f"long{seed}.edf", 300, [PlantedEvent(40, 30), PlantedEvent(160, 40)], n_channels=4, seed=seed)
        side = is_dev_group(open_eeg(path).content_hash())
        if side in chosen:
            path.unlink()
        else:
            chosen[side] = path
        if len(chosen) == 2:
            break
    for path in chosen.values():
        ingest_eeg(store, path)
    for task in store.list_tasks("eeg"):  # an annotator marks every window: seizures where planted
        a, b = task.data["start_s"], task.data["stop_s"]
        regions = [TimeRange(label="seizure", start_s=max(on, a) - a, end_s=min(off, b) - a) for on, off in ((40, 70), (160, 200)) if on < b and off > a]
        store.upsert_annotation(AnnotationIn(task_id=task.id, source_annotation_id=f"1:{task.id[:12]}", regions=regions))
    result = train_eeg_detector(store, get_settings())
    row = store.model_version(DETECTOR_NAME, result.version)
    assert row.metrics["train_ictal_epochs"] > 0 and row.metrics["dev_ictal_epochs"] > 0, "one recording on each side"
    assert result.baseline == 0.0 and result.metric > 0 and result.promoted, result.summary()
    assert store.alias(DETECTOR_NAME) == result.version
    model = load_detector(store, get_settings())
    assert model is not None and model.version == result.version
    get_settings.cache_clear()


def test_sleep_stages_are_predicted_per_30_s_when_a_staging_channel_exists(store: Store, tmp_path: Path) -> None:
    import pyedflib

    path = tmp_path / "psg.edf"
    rng = np.random.default_rng(0)
    headers = [{"label": name, "dimension": "uV", "sample_frequency": 100, "physical_max": 500.0, "physical_min": -500.0,
                "digital_max": 32767, "digital_min": -32768} for name in ("EEG Fpz-Cz", "EOG horizontal")]  # fmt: skip
    writer = pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders(headers)
    writer.writeSamples([rng.normal(0, 20, 100 * 360), rng.normal(0, 20, 100 * 360)])
    writer.close()
    ingest_eeg(store, path, window_s=60.0)
    assert predict_eeg(store, None) == 6
    preds = store.latest_predictions(EEG_MODEL_NAME)
    for task in store.list_tasks("eeg"):
        pred = preds[task.id]
        stages = [r for r in regions_from_json(pred.regions) if r.label in {"W", "N1", "N2", "N3", "REM"}]
        assert [(r.start_s, r.end_s) for r in stages] == [(0.0, 30.0), (30.0, 60.0)]
        assert all(abs(sum(r.attributes["probs"].values()) - 1) < 0.01 for r in stages)
        assert "yasa-" in pred.model_version and "no-seizure-model" in pred.model_version
        assert 0.0 <= pred.uncertainty <= 1.0


def test_one_bad_recording_never_stops_eeg_predict(store: Store, tmp_path: Path) -> None:
    """Issue 20: a recording truncated after ingest is skipped and named; the other is predicted."""
    _recording(tmp_path / "eeg", "good")
    bad = _recording(tmp_path / "eeg", "bad", seed=3)
    assert ingest_eeg(store, tmp_path / "eeg").records == 2
    bad.write_bytes(bad.read_bytes()[:-4000])
    failures: list = []
    assert predict_eeg(store, None, sleep=False, failures=failures) == 5
    assert [f.path.name for f in failures] == ["bad.edf"]
