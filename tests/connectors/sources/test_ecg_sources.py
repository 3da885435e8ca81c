"""ECG readers: WFDB, EDF and CSV; bad files give errors naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.sources.ecg import EcgFileError, open_ecg

FS = 360


def _signal(n: int = FS * 20) -> np.ndarray:
    t = np.arange(n) / FS
    return np.stack([np.sin(2 * np.pi * 1.2 * t), 0.5 * np.cos(2 * np.pi * 1.2 * t)], axis=1)


def write_wfdb(folder: Path, name: str = "rec", leads: tuple[str, str] = ("MLII", "V1"), n: int = FS * 20) -> Path:
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=FS, units=["mV", "mV"], sig_name=list(leads), p_signal=_signal(n), fmt=["212", "212"], write_dir=str(folder))
    return folder / f"{name}.hea"


def write_edf(path: Path, n: int = FS * 20) -> Path:
    import pyedflib

    signal = _signal(n)
    headers = [
        {"label": lead, "dimension": "mV", "sample_frequency": FS, "physical_max": 5.0, "physical_min": -5.0, "digital_max": 32767, "digital_min": -32768}
        for lead in ("II", "V5")
    ]
    with pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS) as writer:
        writer.setSignalHeaders(headers)
        writer.writeSamples([signal[:, 0].copy(), signal[:, 1].copy()])
    return path


def test_wfdb_record_reads_chunks_and_chooses_mlii(tmp_path: Path) -> None:
    header = write_wfdb(tmp_path, leads=("V1", "MLII"))
    source = open_ecg(header)
    assert (source.format, source.sampling_rate, source.n_samples) == ("wfdb", FS, FS * 20)
    assert source.choose_lead() == "MLII" and source.choose_lead("ml2") == "MLII" and source.lead_order() == ["MLII", "V1"]
    chunk = source.read(1000, 1360, ["MLII"])
    assert chunk.shape == (360, 1)
    np.testing.assert_allclose(chunk[:, 0], 0.5 * np.cos(2 * np.pi * 1.2 * np.arange(1000, 1360) / FS), atol=0.01)
    assert open_ecg(tmp_path / "rec").n_samples == source.n_samples  # by record path, no suffix


def test_edf_and_csv_read_the_same_samples(tmp_path: Path) -> None:
    edf = open_ecg(write_edf(tmp_path / "r.edf"))
    assert edf.leads == ["II", "V5"] and edf.choose_lead() == "II"
    np.testing.assert_allclose(edf.read(0, 720, ["II"])[:, 0], _signal()[:720, 0], atol=1e-3)
    csv_path = tmp_path / "r.csv"
    np.savetxt(csv_path, _signal(), delimiter=",", header="I,II", comments="")
    source = open_ecg(csv_path, sampling_rate=FS)
    assert source.leads == ["I", "II"] and source.choose_lead() == "II"
    np.testing.assert_allclose(source.read(10, 20, ["I"])[:, 0], _signal()[10:20, 0])


def test_header_pointing_to_a_missing_dat(tmp_path: Path) -> None:
    header = write_wfdb(tmp_path)
    (tmp_path / "rec.dat").unlink()
    with pytest.raises(EcgFileError, match=r"rec\.dat: signal file named by rec\.hea is missing"):
        open_ecg(header)


def test_truncated_signal(tmp_path: Path) -> None:
    header = write_wfdb(tmp_path)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    with pytest.raises(EcgFileError, match="truncated signal") as info:
        open_ecg(header)
    assert info.value.path == dat


def test_edf_with_a_bad_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       this is not an EDF header" + bytes(300))
    with pytest.raises(EcgFileError, match="bad.edf: not a readable EDF"):
        open_ecg(bad)


def test_unknown_lead_lists_the_leads(tmp_path: Path) -> None:
    source = open_ecg(write_wfdb(tmp_path))
    with pytest.raises(EcgFileError, match="no lead 'aVR'; leads are MLII, V1"):
        source.choose_lead("aVR")


def test_csv_needs_a_sampling_rate_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("II\n0.1\n0.2\n")
    with pytest.raises(EcgFileError, match="needs its sampling rate"):
        open_ecg(path)
    path.write_text("II\n0.1\nabc\n")
    with pytest.raises(EcgFileError, match="'II' holds non-numeric values"):
        open_ecg(path, sampling_rate=250)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "x.mat").write_bytes(b"")
    with pytest.raises(EcgFileError, match="unknown ECG format"):
        open_ecg(tmp_path / "x.mat")
    with pytest.raises(EcgFileError, match="no such"):
        open_ecg(tmp_path / "none.edf")
