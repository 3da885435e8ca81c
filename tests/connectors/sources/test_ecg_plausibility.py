"""Issue 20, defect 4 (ECG): implausible headers and values are refused, naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.sources.ecg import EcgFileError, open_ecg
from tests.connectors.sources.test_ecg_sources import FS, write_edf, write_wfdb


def _edit_header(header: Path, pattern: str, repl: str, count: int = 1) -> Path:
    header.write_text(re.sub(pattern, repl, header.read_text(), count=count))
    return header


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ((r"^(rec 2) 360 ", r"\1 0.001 "), "sampling rate"),  # would make 1-sample windows
        ((r"^(rec 2) 360 ", r"\1 -360 "), "fs"),  # wfdb silently reads it as 250 Hz
        ((r"^rec 2 ", "rec 3 "), "signal count"),
        ((r"^(rec\.dat 16) \S+\(", r"\1 nan("), "adc_gain"),
        ((r"^rec\.dat 16 ", "rec.dat 999 "), "fmt"),
    ],
)
def test_implausible_wfdb_headers_are_refused(tmp_path: Path, edit: tuple[str, str], field: str) -> None:
    import wfdb

    n = FS * 20
    t = np.arange(n) / FS
    wfdb.wrsamp("rec", fs=FS, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=np.stack([np.sin(t), np.cos(t)], 1), fmt=["16", "16"], write_dir=str(tmp_path))
    header = tmp_path / "rec.hea"
    import re as _re

    header.write_text(_re.sub(edit[0], edit[1], header.read_text(), count=2 if field == "adc_gain" else 1, flags=_re.M))
    with pytest.raises(EcgFileError) as info:
        open_ecg(header)
    assert info.value.path.name == "rec.hea" and f"field {field}" in info.value.reason, info.value.reason


def test_csv_one_row_ragged_and_non_finite_are_refused(tmp_path: Path) -> None:
    body = "\n".join(f"{np.sin(i / 10):.4f},{np.cos(i / 10):.4f}" for i in range(FS * 3))
    cases = {
        "one_row.csv": "MLII,V1\n0.1,0.2\n",
        "ragged.csv": "MLII,V1\n" + body + "\n0.5\n",
        "nan.csv": "MLII,V1\n" + body + "\nnan,0.1\n",
        "inf.csv": "MLII,V1\n" + body + "\ninf,0.1\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(EcgFileError) as info:
            open_ecg(tmp_path / name, sampling_rate=FS)
        assert info.value.path.name == name and ("field duration" in info.value.reason or "row" in info.value.reason), (name, info.value.reason)
    (tmp_path / "ok.csv").write_text("MLII,V1\n" + body + "\n")
    assert open_ecg(tmp_path / "ok.csv", sampling_rate=FS).n_samples == FS * 3
    with pytest.raises(EcgFileError, match="field sampling rate"):
        open_ecg(tmp_path / "ok.csv", sampling_rate=-360)


def test_edf_with_trailing_garbage_is_refused_without_printing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = write_edf(tmp_path / "rec.edf")
    assert open_ecg(path).sampling_rate == FS
    with path.open("ab") as handle:
        handle.write(b"garbage" * 100)
    with pytest.raises(EcgFileError, match="trailing bytes"):
        open_ecg(path)
    assert "filesize" not in capfd.readouterr().out


def test_a_plausible_wfdb_record_still_opens(tmp_path: Path) -> None:
    source = open_ecg(write_wfdb(tmp_path))
    assert source.sampling_rate == FS and source.leads == ["MLII", "V1"]


def test_eeg_text_segment_with_nan_or_inf_and_edf_with_trailing_bytes_are_refused(tmp_path: Path) -> None:
    from cliniloop.connectors.sources.eeg import EegFileError, open_eeg

    good = "\n".join(str(i % 50) for i in range(400))
    for name, tail in (("nan.txt", "nan"), ("inf.txt", "-inf")):
        (tmp_path / name).write_text(good + "\n" + tail + "\n")
        with pytest.raises(EegFileError, match="field sample value") as info:
            open_eeg(tmp_path / name, sampling_rate=173.61)
        assert info.value.path.name == name and "line 401" in info.value.reason
    (tmp_path / "short.txt").write_text("1\n2\n3\n")
    with pytest.raises(EegFileError, match="field duration"):
        open_eeg(tmp_path / "short.txt", sampling_rate=173.61)
    with pytest.raises(EegFileError, match="field sampling rate"):
        open_eeg(tmp_path / "nan.txt", sampling_rate=1e9)
    edf = write_edf(tmp_path / "eeg.edf")
    with edf.open("ab") as handle:
        handle.write(b"\0" * 333)
    with pytest.raises(EegFileError, match="trailing bytes"):
        open_eeg(edf)
