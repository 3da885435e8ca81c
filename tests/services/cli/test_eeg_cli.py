"""``cliniloop eeg ...`` and ``cliniloop eval eeg-seizure / eeg-events`` from the command line, on data_samples/eeg."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from cliniloop.services.cli.main import app

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples" / "eeg"


def test_eval_eeg_seizure_cv_prints_one_json_object(env: Path) -> None:
    out = CliRunner().invoke(app, ["eval", "eeg-seizure", "--cv", str(SAMPLES / "bonn_format"), "--folds", "3"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["mode"] == "cv" and result["segments"] == 15 and result["tp"] + result["fn"] == 3
    assert 0 <= result["sensitivity"] <= 1 and 0 <= result["specificity"] <= 1 and result["ms_per_minute_eeg"] > 0
    assert set(result["per_set"]) == {"Z", "O", "N", "F", "S"} and result["epoch_auroc"] > 0.9


def test_eval_eeg_seizure_names_a_missing_set_folder(env: Path) -> None:
    shutil.copytree(SAMPLES / "bonn_format", env / "bonn")
    shutil.rmtree(env / "bonn" / "F")
    out = CliRunner().invoke(app, ["eval", "eeg-seizure", "--cv", str(env / "bonn")])
    assert out.exit_code == 1 and "missing set folder(s) F" in out.output
    assert CliRunner().invoke(app, ["eval", "eeg-seizure", "--train", str(env / "bonn")]).exit_code == 2


def test_train_predict_export_and_eval_events_on_the_sample_recording(env: Path) -> None:
    import mne

    runner = CliRunner()
    edf = SAMPLES / "synthetic_seizures.edf"
    bonn = env / "bonn"
    shutil.copytree(SAMPLES / "bonn_format", bonn)
    shutil.copyfile(bonn / "S" / "S001.txt", bonn / "S" / "S006.txt")  # S006 is in the dev split: a seizure to measure on
    out = runner.invoke(app, ["eeg", "train", "--edf", str(edf), "--bonn", str(bonn)])
    line = " ".join(out.output.split())  # the console wraps long lines
    assert out.exit_code == 0 and ": promoted (" in line and "vs baseline 0.0000" in line, out.output
    out = runner.invoke(app, ["eeg", "ingest", str(edf)])
    assert out.exit_code == 0 and "6 new windows" in out.output, out.output
    assert runner.invoke(app, ["eeg", "predict", "--no-sleep"]).exit_code == 0
    out = runner.invoke(app, ["eeg", "export", "--out", str(env / "out")])
    assert out.exit_code == 0, out.output
    labels = set(mne.read_annotations(str(env / "out" / "synthetic_seizures_events.edf")).description)
    assert any(label.startswith("seizure") for label in labels) and any(label.startswith("artifact") for label in labels)
    out = runner.invoke(app, ["eval", "eeg-events", "--edf", str(edf), "--events", str(edf)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["reference_events"] == 2 and result["detected"] == 2 and result["false_alarms_per_hour"] is not None


def test_bad_recordings_are_rejected_with_their_reason(env: Path) -> None:
    bad = env / "bad.edf"
    bad.write_bytes(b"0       not an EDF header" * 20)
    out = CliRunner().invoke(app, ["eeg", "ingest", str(bad)])
    assert out.exit_code == 1 and "bad.edf" in out.output and "not a readable EDF" in out.output
    out = CliRunner().invoke(app, ["eeg", "ingest", str(SAMPLES / "synthetic_seizures.edf"), "--channel", "O9-Z1"])
    assert out.exit_code == 1 and "no EEG channel 'O9-Z1'" in out.output
    out = CliRunner().invoke(app, ["eval", "eeg-events", "--edf", str(bad), "--events", str(bad), "--train-bonn", str(SAMPLES / "bonn_format")])
    assert out.exit_code == 1 and "bad.edf" in out.output
