"""Reference EEG events: EDF+ annotations, CHB-MIT summaries and .seizures files, BIDS TSV and CSV tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cliniloop.connectors.sources.eeg_events import (
    EegEvent,
    EegEventsError,
    normalise_label,
    read_chbmit_summary,
    read_edf_annotations,
    read_events,
    read_events_table,
    read_seizures_file,
)

SHARED_EEG = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "eeg"

SUMMARY_ONE = (
    "File Name: chb01_03.edf\nFile Start Time: 13:43:04\nFile End Time: 14:43:04\nNumber of Seizures in File: 1\n"
    "Seizure Start Time: 2996 seconds\nSeizure End Time: 3036 seconds\n"
)
SUMMARY_NUMBERED = (
    "File Name: chb06_01.edf\nFile Start Time: 04:21:43\nFile End Time: 08:21:43\nNumber of Seizures in File: 2\n"
    "Seizure 1 Start Time: 1724 seconds\nSeizure 1 End Time: 1738 seconds\n"
    "Seizure 2 Start Time: 7461 seconds\nSeizure 2 End Time: 7476 seconds\n"
)
SUMMARY_NONE = "File Name: chb01_01.edf\nFile Start Time: 11:42:54\nFile End Time: 12:42:54\nNumber of Seizures in File: 0\n"


def _shared(*parts: str) -> Path:
    path = SHARED_EEG.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared EEG data not found at {path}")
    return path


def write_annotated_edf(path: Path, annotations: list[tuple[float, float, str]]) -> Path:
    import pyedflib

    header = {"label": "FP1-F7", "dimension": "uV", "sample_frequency": 256, "physical_max": 200.0, "physical_min": -200.0, "digital_max": 32767, "digital_min": -32768}
    writer = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders([header])
    writer.writeSamples([np.zeros(256 * 60)])
    for onset, duration, text in annotations:
        writer.writeAnnotation(onset, duration, text)
    writer.close()
    return path


def write_seizures(folder: Path, samples: list[int], symbols: list[str], fs: int = 256) -> Path:
    """A CHB-MIT style ``rec.edf.seizures`` file.

    ``wfdb.wrann`` refuses a record name with a dot (``rec.edf``), so it is written as
    ``rec.seizures`` and renamed to the CHB-MIT name.
    """
    import wfdb

    wfdb.wrann("rec", "seizures", np.array(samples), symbol=symbols, fs=fs, write_dir=str(folder))
    path = folder / "rec.edf.seizures"
    (folder / "rec.seizures").rename(path)
    return path


# --- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Seizure", "seizure onset", "SZ", "sz", " Seizure "])
def test_seizure_descriptions_become_seizure(text: str) -> None:
    assert normalise_label(text) == "seizure"


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("Sleep stage W", "W"),
        ("Sleep stage 1", "N1"),
        ("Sleep stage 2", "N2"),
        ("Sleep stage 3", "N3"),
        ("Sleep stage 4", "N3"),
        ("Sleep stage R", "REM"),
        ("sleep stage n2", "N2"),
    ],
)
def test_sleep_stage_descriptions_become_aasm_stages(text: str, stage: str) -> None:
    assert normalise_label(text) == stage


@pytest.mark.parametrize("text", ["artifact", "T0", "Sleep stage ?", "Movement time", "eyes closed"])
def test_other_descriptions_are_kept(text: str) -> None:
    assert normalise_label(text) == text


@pytest.mark.parametrize("text", ["interictal", "preictal", "post-ictal", "no seizure", "non-ictal"])
def test_non_ictal_periods_are_not_seizures(text: str) -> None:
    assert normalise_label(text) != "seizure"


# --- EDF+ annotations ---------------------------------------------------------------------------


def test_edf_annotations_read_back(tmp_path: Path) -> None:
    path = write_annotated_edf(tmp_path / "rec.edf", [(12.0, 8.5, "Seizure"), (30.0, 2.0, "artifact")])
    events = read_events(path)
    assert [(e.onset_s, e.duration_s, e.label) for e in events] == [(12.0, 8.5, "seizure"), (30.0, 2.0, "artifact")]
    assert events[0].offset_s == pytest.approx(20.5)
    assert all(e.source == "reference" and e.channels == () for e in events)


def test_edf_sleep_stage_annotations(tmp_path: Path) -> None:
    path = write_annotated_edf(tmp_path / "hyp.edf", [(0.0, 30.0, "Sleep stage W"), (30.0, 30.0, "Sleep stage 4"), (60.0, 30.0, "Sleep stage R")])
    assert [e.label for e in read_edf_annotations(path)] == ["W", "N3", "REM"]


def test_edf_annotation_channels_after_at_sign(tmp_path: Path) -> None:
    path = write_annotated_edf(tmp_path / "rec.edf", [(5.0, 2.0, "Seizure@FP1-F7,F7-T7"), (9.0, 1.0, "artifact")])
    events = read_events(path)
    assert [(e.label, e.channels) for e in events] == [("seizure", ("FP1-F7", "F7-T7")), ("artifact", ())]


def test_edf_without_annotations_has_no_events(tmp_path: Path) -> None:
    assert read_events(write_annotated_edf(tmp_path / "plain.edf", [])) == []


def test_edf_annotations_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.edf"
    with pytest.raises(EegEventsError, match="no such file") as info:
        read_events(path)
    assert info.value.path == path


def test_edf_annotations_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.edf"
    path.write_bytes(b"not an EDF file at all " * 50)
    with pytest.raises(EegEventsError, match="not a readable EDF") as info:
        read_events(path)
    assert str(path) in str(info.value)


# --- tables -------------------------------------------------------------------------------------


def test_bids_events_tsv(tmp_path: Path) -> None:
    path = tmp_path / "sub-01_task-rest_events.tsv"
    path.write_text("onset\tduration\ttrial_type\n10.5\t4.0\tseizure\n20\t1.5\tartifact\n40\t2\tSleep stage 2\n")
    events = read_events(path)
    assert events == [EegEvent(10.5, 4.0, "seizure"), EegEvent(20.0, 1.5, "artifact"), EegEvent(40.0, 2.0, "N2")]


def test_csv_with_offsets_and_channels(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("onset_s,offset_s,label,channels\n5,12.5,Seizure,FP1-F7;F7-T7\n30,31,artifact,\n")
    events = read_events(path)
    assert [(e.onset_s, e.duration_s, e.label) for e in events] == [(5.0, 7.5, "seizure"), (30.0, 1.0, "artifact")]
    assert events[0].channels == ("FP1-F7", "F7-T7")
    assert events[1].channels == ()
    assert events[0].offset_s == 12.5


def test_csv_with_duration_column(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("onset_s,duration_s,label\n1,2,sz\n")
    assert read_events_table(path) == [EegEvent(1.0, 2.0, "seizure")]


def test_table_with_non_numeric_onset_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "events.tsv"
    path.write_text("onset\tduration\ttrial_type\n1\t2\tseizure\nsoon\t2\tseizure\n")
    with pytest.raises(EegEventsError, match="line 3: needs numeric onset") as info:
        read_events(path)
    assert info.value.path == path


def test_table_without_duration_or_offset_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.tsv"
    path.write_text("onset\tduration\ttrial_type\n1\tn/a\tseizure\n")
    with pytest.raises(EegEventsError, match="line 2"):
        read_events(path)


def test_table_with_negative_duration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("onset_s,offset_s,label\n10,5,seizure\n")
    with pytest.raises(EegEventsError, match="line 2: negative duration"):
        read_events(path)


# --- CHB-MIT summaries --------------------------------------------------------------------------


def test_chbmit_summary_single_seizure(tmp_path: Path) -> None:
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY_NONE + "\n" + SUMMARY_ONE)
    table = read_chbmit_summary(path)
    assert list(table) == ["chb01_01.edf", "chb01_03.edf"]
    assert table["chb01_01.edf"] == []
    assert table["chb01_03.edf"] == [EegEvent(2996.0, 40.0, "seizure")]


def test_chbmit_summary_numbered_seizures(tmp_path: Path) -> None:
    path = tmp_path / "chb06-summary.txt"
    path.write_text("Data Sampling Rate: 256 Hz\n\n" + SUMMARY_NUMBERED)
    events = read_events(path, recording="chb06_01.edf")
    assert [(e.onset_s, e.offset_s) for e in events] == [(1724.0, 1738.0), (7461.0, 7476.0)]
    assert all(e.label == "seizure" for e in events)


def test_read_events_summary_for_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY_ONE + "\n" + SUMMARY_NONE)
    assert read_events(path, recording="chb01_03.edf") == [EegEvent(2996.0, 40.0, "seizure")]
    assert read_events(path, recording="/data/chb01/chb01_03.edf") == [EegEvent(2996.0, 40.0, "seizure")]
    assert read_events(path, recording="chb01_01.edf") == []


def test_read_events_summary_without_recording_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY_ONE)
    with pytest.raises(EegEventsError, match="say which") as info:
        read_events(path)
    assert info.value.path == path


def test_read_events_summary_not_listing_the_recording(tmp_path: Path) -> None:
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY_ONE)
    with pytest.raises(EegEventsError, match="does not list chb01_99.edf"):
        read_events(path, recording="chb01_99.edf")


def test_summary_without_file_entries_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    with pytest.raises(EegEventsError, match="not a CHB-MIT summary"):
        read_chbmit_summary(path)


def test_summary_with_unpaired_seizure_times_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY_ONE.replace("Seizure End Time: 3036 seconds\n", ""))
    with pytest.raises(EegEventsError, match="chb01_03.edf: 1 seizure starts but 0 ends"):
        read_chbmit_summary(path)


def test_summary_with_seizure_ending_before_start_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY_ONE.replace("3036", "2000"))
    with pytest.raises(EegEventsError, match="ends"):
        read_chbmit_summary(path)


# --- .seizures (WFDB) ---------------------------------------------------------------------------


def test_seizures_file_read_back(tmp_path: Path) -> None:
    path = write_seizures(tmp_path, [512, 1024, 2560, 3328], ["[", "]", "[", "]"])
    events = read_events(path)
    assert [(float(e.onset_s), float(e.duration_s), e.label) for e in events] == [(2.0, 2.0, "seizure"), (10.0, 3.0, "seizure")]


def test_seizures_file_uses_its_sampling_rate(tmp_path: Path) -> None:
    path = write_seizures(tmp_path, [1000, 3000], ["[", "]"], fs=500)
    assert [(float(e.onset_s), float(e.offset_s)) for e in read_seizures_file(path)] == [(2.0, 6.0)]


def test_seizures_file_onset_without_offset_is_refused(tmp_path: Path) -> None:
    path = write_seizures(tmp_path, [512], ["["])
    with pytest.raises(EegEventsError, match="onset at 2.0 s has no offset") as info:
        read_events(path)
    assert info.value.path == path


def test_seizures_file_missing(tmp_path: Path) -> None:
    with pytest.raises(EegEventsError, match="no such file"):
        read_events(tmp_path / "chb01_03.edf.seizures")


def test_unknown_events_format(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text("[]")
    with pytest.raises(EegEventsError, match="unknown events format") as info:
        read_events(path)
    assert info.value.path == path


# --- shared data --------------------------------------------------------------------------------


def test_shared_chbmit_summaries_match_seizure_table() -> None:
    folder = _shared("chbmit_annotations")
    table = json.loads((folder / "seizure_table.json").read_text())
    summaries = sorted(folder.glob("*-summary.txt"))
    assert len(summaries) == len(table)
    for summary in summaries:
        patient = summary.name.removesuffix("-summary.txt")
        parsed = read_chbmit_summary(summary)
        expected = {entry["file"]: [tuple(map(float, s)) for s in entry["seizures"]] for entry in table[patient]}
        got = {name: [(e.onset_s, e.offset_s) for e in events] for name, events in parsed.items()}
        assert got == expected, patient


def test_shared_seizures_file_agrees_with_summary() -> None:
    folder = _shared("chbmit_annotations")
    path = _shared("chbmit_annotations", "chb01_03.edf.seizures")
    from_wfdb = read_events(path)
    from_summary = read_events(folder / "chb01-summary.txt", recording="chb01_03.edf")
    assert len(from_wfdb) == len(from_summary) == 1
    assert from_wfdb[0].onset_s == pytest.approx(2996, abs=1)
    assert from_wfdb[0].offset_s == pytest.approx(3036, abs=1)
    assert from_wfdb[0].onset_s == pytest.approx(from_summary[0].onset_s, abs=1)
    assert from_wfdb[0].offset_s == pytest.approx(from_summary[0].offset_s, abs=1)


def test_shared_sleep_edf_hypnogram() -> None:
    folder = _shared("sleep_edf_hypnograms")
    path = next(iter(sorted(folder.glob("*.edf"))), None)
    if path is None:
        pytest.skip(f"no hypnogram EDF in {folder}")
    events = read_events(path)
    assert len(events) > 10
    labels = {e.label for e in events}
    assert labels & {"W", "N1", "N2", "N3", "REM"}
    assert not any(e.label.lower().startswith("sleep stage") and e.label != "Sleep stage ?" for e in events)
    onsets = [e.onset_s for e in events]
    assert onsets == sorted(onsets)
    assert all(e.duration_s >= 0 for e in events)
