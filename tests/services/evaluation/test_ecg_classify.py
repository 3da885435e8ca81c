"""``evaluate_classification`` on a few MIT-BIH records (skipped without ../shared/data/ecg/mitdb)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("wfdb")

from cliniloop.services.evaluation.ecg_classify import (  # noqa: E402
    EcgClassifyEvalError,
    classification_scores,
    confusion_plot,
    evaluate_classification,
    read_annotated_record,
)

MITDB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ecg" / "mitdb"
needs_mitdb = pytest.mark.skipif(
    not (MITDB / "RECORDS").is_file(), reason=f"MIT-BIH records not found at {MITDB} (shared data folder absent)"
)
FAST = {"n_members": 2, "n_estimators": 20}


def test_classification_scores_by_hand():
    ref = ["N", "N", "N", "S", "S", "V", "F", "Q"]
    pred = ["N", "N", "S", "S", "N", "V", "V", "N"]
    s = classification_scores(ref, pred)
    assert s["per_class"]["N"] == {"sensitivity": 0.6667, "ppv": 0.5, "f1": 0.5714, "support": 3, "predicted": 4}
    assert s["per_class"]["S"]["sensitivity"] == 0.5 and s["per_class"]["S"]["ppv"] == 0.5
    assert s["per_class"]["F"] == {"sensitivity": 0.0, "ppv": None, "f1": 0.0, "support": 1, "predicted": 0}
    assert s["accuracy"] == 0.5
    assert s["macro_f1"] == round((0.5714285 + 0.5 + 2 / 3 + 0.0) / 4, 4)
    assert np.asarray(s["confusion"]["matrix"]).sum() == len(ref)
    assert s["confusion"]["matrix"][1] == [1, 1, 0, 0, 0]  # row = reference S


def test_missing_records_file_is_named(tmp_path):
    with pytest.raises(EcgClassifyEvalError, match="RECORDS"):
        evaluate_classification(tmp_path, cv=True)


@needs_mitdb
def test_reader_puts_mlii_first():
    rec = read_annotated_record(MITDB, "114")  # stored as V5, MLII
    other = read_annotated_record(MITDB, "101")
    # MLII QRS complexes are large and upright in both; V5 of 114 is the second column now
    assert rec.signal.shape[1] == 2 and rec.sampling_rate == 360.0
    assert np.median(rec.signal[rec.samples, 0]) > 0.5 and np.median(other.signal[other.samples, 0]) > 0.5
    assert set(rec.labels) <= set("NSVFQ") and len(rec.labels) == len(rec.samples)


@needs_mitdb
def test_train_test_tiny(tmp_path):
    result = evaluate_classification(MITDB, train=["101", "106"], test=["119"], params=FAST)
    for key in ("per_class", "accuracy", "macro_f1", "confusion", "records", "beats", "seconds", "device", "scheme"):
        assert key in result
    assert set(result["per_class"]) == {"N", "S", "V", "F", "Q"}
    assert set(result["per_class"]["S"]) >= {"sensitivity", "ppv", "f1", "support"}
    matrix = np.asarray(result["confusion"]["matrix"])
    assert result["confusion"]["labels"] == ["N", "S", "V", "F", "Q"]
    assert matrix.sum() == result["beats"] == 1987  # 119: 1543 N + 444 V
    assert result["records"] == ["119"] and result["device"] == "cpu"
    assert result["model"]["version"].startswith("beatgbm-")
    png = confusion_plot(result, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_mitdb
def test_inter_patient_guard_and_paced_exclusion(tmp_path):
    with pytest.raises(EcgClassifyEvalError, match="both train and test"):
        evaluate_classification(MITDB, train=["101", "106"], test=["106"], params=FAST)
    folder = tmp_path / "db"
    folder.mkdir()
    for name in ("101", "102"):
        for suffix in (".hea", ".dat", ".atr"):
            shutil.copy(MITDB / f"{name}{suffix}", folder)
    (folder / "RECORDS").write_text("101\n102\n105\n")
    with pytest.raises(EcgClassifyEvalError, match="105.hea"):
        evaluate_classification(folder, test_dir=MITDB, test=["119"], params=FAST)
    (folder / "RECORDS").write_text("101\n102\n")
    result = evaluate_classification(folder, test_dir=MITDB, test=["112"], params=FAST)
    assert result["excluded_records"] == ["102"] and result["train_records"] == ["101"]


@needs_mitdb
def test_cross_validation_tiny():
    result = evaluate_classification(MITDB, train=["112", "119", "122"], cv=True, params=FAST)
    assert result["scheme"].startswith("leave-one-record-out")
    assert [f["test_records"] for f in result["folds"]] == [["112"], ["119"], ["122"]]
    assert all("af_gate_rr_spread" in f for f in result["folds"])  # the limit each fold's model chose (None: no gate)
    assert np.asarray(result["confusion"]["matrix"]).sum() == result["beats"]
    assert result["records"] == ["112", "119", "122"]
