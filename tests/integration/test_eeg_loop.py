"""EEG windows in a real Label Studio: a predicted seizure on a synthetic multichannel EDF+ pushed, its
boundaries and channels corrected through the API, pulled, exported as EDF+ annotations and read back
by mne with the corrected onset and duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.eeg import CHANNEL_TAG, EEG_OBJECT, EVENT_TAG, TIME_COLUMN, channel_keys
from cliniloop.connectors.sources.eeg_synthetic import PlantedEvent, write_synthetic_edf
from cliniloop.services.core.store import Store
from cliniloop.services.loop.eeg import EEG_MODEL_NAME, eeg_project_config, eeg_window_data, export_events, ingest_eeg, predict_eeg
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import push_tasks

pytestmark = pytest.mark.integration


def test_seizure_boundaries_round_trip_through_label_studio_to_edf_plus(ls_client: LabelStudioClient, tmp_path: Path) -> None:
    import mne

    from cliniloop.models.eeg.seizure import SeizureDetector
    from cliniloop.services.loop.eeg_train import annotated_recording_rows

    train = write_synthetic_edf(tmp_path / "train.edf", 400, [PlantedEvent(50, 40), PlantedEvent(200, 30), PlantedEvent(320, 35)], n_channels=5, seed=1)
    X, y, g = annotated_recording_rows(train, None)
    detector = SeizureDetector().fit(None, y, g, features=X)
    (tmp_path / "eeg").mkdir()
    write_synthetic_edf(tmp_path / "eeg" / "syn.edf", 60, [PlantedEvent(20, 16)], n_channels=5, seed=4)

    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    ingest_eeg(store, tmp_path / "eeg", window_s=60.0)
    (task,) = store.list_tasks("eeg")
    predict_eeg(store, detector, sleep=False)
    pred = store.latest_predictions(EEG_MODEL_NAME)[task.id]
    assert any(r["label"] == "seizure" for r in pred.regions)

    config = eeg_project_config(task.data["channels"])
    project_id = ls_client.ensure_project("cliniloop EEG test", config)
    report = push_tasks(store, ls_client, project_id, [task.id], model_name=EEG_MODEL_NAME, label_config=config, task_data=eeg_window_data)
    assert report.created == [task.id]
    (exported,) = ls_client.export_json(project_id)
    data = exported["data"][EEG_OBJECT]
    keys = channel_keys(task.data["channels"])
    assert set(data) == {TIME_COLUMN, *keys} and all(k == k.lower() for k in keys)
    assert len(data[TIME_COLUMN]) == 60 * 128  # 256 Hz decimated to 128 Hz for display
    (prediction,) = [p if isinstance(p, dict) else p.model_dump() for p in ls_client.sdk.predictions.list(task=exported["id"])]
    seizure = next(i for i in prediction["result"] if i["from_name"] == EVENT_TAG and i["value"]["timeserieslabels"] == ["seizure"])
    assert abs(seizure["value"]["start"] - 20) <= 4 and abs(seizure["value"]["end"] - 36) <= 4

    # the annotator moves the onset to 18.5 s and the offset to 36.25 s, and keeps two channels
    value = {"start": 18.5, "end": 36.25, "instant": False}
    result = [
        {"id": "sz1", "from_name": EVENT_TAG, "to_name": EEG_OBJECT, "type": "timeserieslabels", "value": {**value, "timeserieslabels": ["seizure"]}},
        {"id": "sz1", "from_name": CHANNEL_TAG, "to_name": EEG_OBJECT, "type": "choices", "value": {**value, "choices": ["FP1-F7", "F7-T7"]}},
    ]
    ls_client.create_annotation(exported["id"], result)
    assert pull_annotations(store, ls_client, project_id).created == 1

    assert export_events(store, tmp_path / "out", only_corrected=True) == {"syn": 1}
    annotations = mne.read_annotations(str(tmp_path / "out" / "syn_events.edf"))
    assert list(annotations.description) == ["seizure@FP1-F7,F7-T7"]
    assert annotations.onset[0] == pytest.approx(18.5, abs=1e-3) and annotations.duration[0] == pytest.approx(17.75, abs=1e-3)
