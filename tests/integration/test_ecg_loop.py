"""ECG windows in a real Label Studio: predicted beats pushed, one relabelled and one added through
the API, pulled, written with ``wrann`` and read back with ``rdann`` at the right samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.ecg import BEAT_TAG, CHANNELS, ECG_OBJECT, TIME_COLUMN
from cliniloop.services.core.store import Store
from cliniloop.services.loop.ecg import ECG_MODEL_NAME, ecg_project_config, ecg_window_data, export_beats, ingest_ecg, predict_ecg
from cliniloop.services.loop.pull import pull_annotations
from cliniloop.services.loop.push import push_tasks

pytestmark = pytest.mark.integration

FS = 360


def _record(folder: Path) -> np.ndarray:
    """A 12-s synthetic two-lead ECG (neurokit2) written as WFDB; returns the true R peaks."""
    import neurokit2 as nk
    import wfdb

    ecg = nk.ecg_simulate(duration=12, sampling_rate=FS, heart_rate=70, random_state=3)
    _, info = nk.ecg_peaks(ecg, sampling_rate=FS)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp("syn", fs=FS, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=np.stack([ecg, 0.6 * ecg], axis=1), fmt=["16", "16"], write_dir=str(folder))
    return np.asarray(info["ECG_R_Peaks"])


def test_beats_round_trip_through_label_studio_to_wfdb(ls_client: LabelStudioClient, tmp_path: Path) -> None:
    import wfdb

    from cliniloop.models.ecg.detect import BeatDetector

    _record(tmp_path / "ecg")
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    ingest_ecg(store, tmp_path / "ecg", window_s=12.0, context_s=0.0)
    (task,) = store.list_tasks("ecg")
    predict_ecg(store, BeatDetector().fit())
    pred = store.latest_predictions(ECG_MODEL_NAME)[task.id]
    assert len(pred.regions) >= 10

    config = ecg_project_config()
    project_id = ls_client.ensure_project("cliniloop ECG test", config)
    report = push_tasks(store, ls_client, project_id, [task.id], model_name=ECG_MODEL_NAME, label_config=config, task_data=ecg_window_data)
    assert report.created == [task.id]
    (exported,) = ls_client.export_json(project_id)
    data = exported["data"][ECG_OBJECT]
    assert set(data) == {TIME_COLUMN, *CHANNELS} and len(data[TIME_COLUMN]) == 12 * FS
    (prediction,) = [p if isinstance(p, dict) else p.model_dump() for p in ls_client.sdk.predictions.list(task=exported["id"])]
    result = prediction["result"]
    assert {item["from_name"] for item in result} == {BEAT_TAG} and all(item["value"]["instant"] for item in result)

    # the annotator relabels the third beat V and adds an S beat at 5.5 s
    corrected = [dict(item, value=dict(item["value"])) for item in result]
    corrected[2]["value"]["timeserieslabels"] = ["V"]
    relabelled_sample = int(round(corrected[2]["value"]["start"] * FS))
    corrected.append({"id": "added1", "from_name": BEAT_TAG, "to_name": ECG_OBJECT, "type": "timeserieslabels",
                      "value": {"start": 5.5, "end": 5.5, "instant": True, "timeserieslabels": ["S"]}})  # fmt: skip
    for item in corrected:
        item.pop("score", None)
    ls_client.create_annotation(exported["id"], corrected)
    pulled = pull_annotations(store, ls_client, project_id)
    assert pulled.created == 1

    written = export_beats(store, tmp_path / "out")
    assert written == {"syn": len(result) + 1}
    ann = wfdb.rdann(str(tmp_path / "out" / "syn"), "cliniloop")
    symbols = dict(zip(ann.sample.tolist(), ann.symbol, strict=True))
    assert symbols[relabelled_sample] == "V" and symbols[int(5.5 * FS)] == "A"
    assert sum(1 for s in ann.symbol if s == "N") == len(result) - 1
