"""Reference EEG events: EDF+ annotations, CHB-MIT summaries and ``.seizures`` files, CSV / BIDS TSV.

Every reader returns :class:`EegEvent` objects in seconds from the start of the recording.
:func:`read_events` picks the reader from the file: ``.edf``/``.bdf`` (EDF+ annotations, e.g. a
Sleep-EDF hypnogram), ``*.seizures`` (CHB-MIT WFDB annotations: ``[`` onset, ``]`` offset), a
CHB-MIT ``*-summary.txt`` (needs the recording's file name), ``.tsv`` (BIDS ``events.tsv``:
``onset``, ``duration``, ``trial_type``) or ``.csv`` (``onset_s`` with ``offset_s`` or
``duration_s``, and ``label``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

SEIZURE = "seizure"
#: Descriptions that mean a seizure in other people's annotations (not inter-/pre-/post-ictal).
SEIZURE_PATTERN = re.compile(r"\bseiz|^sz\b|(?<![a-z-])ictal\b", re.IGNORECASE)
#: Descriptions that deny one ("no seizure", "non-ictal").
NEGATED = re.compile(r"^\s*(no|non|not|without)\b|^\s*non-", re.IGNORECASE)
#: Sleep-EDF / R&K descriptions -> AASM stages (stage 4 merges into N3).
SLEEP_STAGE_NAMES = {
    "sleep stage w": "W", "sleep stage 1": "N1", "sleep stage 2": "N2", "sleep stage 3": "N3", "sleep stage 4": "N3",
    "sleep stage r": "REM", "sleep stage n1": "N1", "sleep stage n2": "N2", "sleep stage n3": "N3",
}  # fmt: skip


class EegEventsError(ValueError):
    """An events file that cannot be read; names the file and the problem."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class EegEvent:
    """One event on a recording's time axis.

    Attributes
    ----------
    onset_s, duration_s : float
        Start and length (s from the start of the recording).
    label : str
        ``seizure``, ``artifact``, a sleep stage (``W``, ``N1``, ``N2``, ``N3``, ``REM``) or the
        file's own description.
    channels : tuple of str
        Channels the event is on; empty = all.
    confidence : float or None
        Model probability (predictions only).
    source : str
        ``reference``, ``prediction`` or ``annotation``.
    kinds : tuple of str
        For predicted artifacts: which rules fired (``flat``, ``clipping``, ``amplitude``, ``line_noise``).
    """

    onset_s: float
    duration_s: float
    label: str
    channels: tuple[str, ...] = field(default=())
    confidence: float | None = None
    source: str = "reference"
    kinds: tuple[str, ...] = field(default=())

    @property
    def offset_s(self) -> float:
        """End of the event (s)."""
        return self.onset_s + self.duration_s


def normalise_label(description: str) -> str:
    """``seizure`` for seizure-like descriptions, an AASM stage for sleep stages, else the text as is."""
    text = description.strip()
    if SEIZURE_PATTERN.search(text) and not NEGATED.search(text):
        return SEIZURE
    return SLEEP_STAGE_NAMES.get(text.lower(), text)


def read_edf_annotations(path: Path) -> list[EegEvent]:
    """Events of an EDF+/BDF+ file's annotation channel (``mne.read_annotations``)."""
    import mne

    path = Path(path)
    if not path.exists():
        raise EegEventsError(path, "no such file")
    import pyedflib

    try:
        # mne returns no annotations for a file that is not EDF at all: check the header first
        pyedflib.EdfReader(str(path)).close()
    except OSError as err:
        raise EegEventsError(path, f"not a readable EDF+/BDF+ file: {err}") from None
    try:
        annotations = mne.read_annotations(str(path))
    except Exception as err:  # noqa: BLE001 - mne raises many types for a bad file
        raise EegEventsError(path, f"unreadable EDF+ annotations: {err}") from None
    events = []
    for a in annotations:
        # cliniloop writes the channels after "@" (EDF+ has no channel field)
        label, _, channels = str(a["description"]).partition("@")
        events.append(EegEvent(float(a["onset"]), float(a["duration"]), normalise_label(label), tuple(c for c in channels.split(",") if c)))
    return events


def read_seizures_file(path: Path) -> list[EegEvent]:
    """Seizures of a CHB-MIT ``<record>.edf.seizures`` file (WFDB annotations ``[`` and ``]``)."""
    import wfdb

    path = Path(path)
    if not path.exists():
        raise EegEventsError(path, "no such file")
    record, extension = str(path.with_suffix("")), path.suffix.lstrip(".")
    try:
        ann = wfdb.rdann(record, extension)
    except Exception as err:  # noqa: BLE001
        raise EegEventsError(path, f"unreadable WFDB annotation file: {err}") from None
    fs = float(ann.fs or 256.0)
    events, onset = [], None
    for sample, symbol in zip(ann.sample, ann.symbol, strict=True):
        if symbol == "[":
            onset = sample / fs
        elif symbol == "]" and onset is not None:
            events.append(EegEvent(onset, sample / fs - onset, SEIZURE))
            onset = None
    if onset is not None:
        raise EegEventsError(path, f"seizure onset at {onset:.1f} s has no offset")
    return events


_FILE = re.compile(r"^File Name:\s*(\S+)", re.MULTILINE)
_TIME = re.compile(r"Seizure\s*(?:\d+\s*)?(Start|End)\s*Time:\s*([0-9.]+)\s*seconds", re.IGNORECASE)


def read_chbmit_summary(path: Path) -> dict[str, list[EegEvent]]:
    """Seizures per recording of a CHB-MIT ``chbNN-summary.txt``: ``{"chb01_03.edf": [event, ...]}``.

    Every recording listed appears, with an empty list when it holds no seizure.
    """
    path = Path(path)
    if not path.exists():
        raise EegEventsError(path, "no such file")
    text = path.read_text(encoding="utf-8", errors="replace")
    starts = list(_FILE.finditer(text))
    if not starts:
        raise EegEventsError(path, "no 'File Name:' entry: not a CHB-MIT summary")
    out: dict[str, list[EegEvent]] = {}
    for i, match in enumerate(starts):
        block = text[match.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)]
        times = _TIME.findall(block)
        onsets = [float(t) for kind, t in times if kind.lower() == "start"]
        offsets = [float(t) for kind, t in times if kind.lower() == "end"]
        if len(onsets) != len(offsets):
            raise EegEventsError(path, f"{match.group(1)}: {len(onsets)} seizure starts but {len(offsets)} ends")
        for a, b in zip(onsets, offsets, strict=True):
            if b < a:
                raise EegEventsError(path, f"{match.group(1)}: seizure ends ({b:g} s) before it starts ({a:g} s)")
        out[match.group(1)] = [EegEvent(a, b - a, SEIZURE) for a, b in zip(onsets, offsets, strict=True)]
    return out


def read_events_table(path: Path) -> list[EegEvent]:
    """Events of a BIDS ``events.tsv`` (``onset``, ``duration``, ``trial_type``) or a CSV written by cliniloop."""
    path = Path(path)
    if not path.exists():
        raise EegEventsError(path, "no such file")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=delimiter))
    events = []
    for number, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            onset = float(row.get("onset_s") or row["onset"])
            duration_text = row.get("duration_s") or row.get("duration")
            if duration_text not in (None, "", "n/a"):
                duration = float(duration_text)
            else:
                duration = float(row["offset_s"]) - onset
        except (KeyError, ValueError):
            raise EegEventsError(path, f"line {number}: needs numeric onset and duration (or offset_s)") from None
        if duration < 0:
            raise EegEventsError(path, f"line {number}: negative duration")
        label = row.get("trial_type") or row.get("label") or row.get("description") or row.get("value") or ""
        channels = tuple(c for c in re.split(r"[;|]", row.get("channels") or row.get("channel") or "") if c and c != "n/a")
        events.append(EegEvent(onset, duration, normalise_label(label), channels))
    return events


def read_events(path: Path, recording: str | None = None) -> list[EegEvent]:
    """Reference events from any supported file (see the module docstring).

    Parameters
    ----------
    path : Path
        The events file.
    recording : str, optional
        The recording's file name (``chb01_03.edf``), needed for a CHB-MIT summary.

    Raises
    ------
    EegEventsError
        For an unknown or malformed file, or a summary that does not list ``recording``.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".seizures"):
        return read_seizures_file(path)
    if path.suffix.lower() in {".edf", ".bdf"}:
        return read_edf_annotations(path)
    if path.suffix.lower() in {".tsv", ".csv"}:
        return read_events_table(path)
    if path.suffix.lower() == ".txt":
        table = read_chbmit_summary(path)
        if recording is None:
            raise EegEventsError(path, "a CHB-MIT summary lists many recordings: say which (the EDF file name)")
        key = Path(recording).name
        if key not in table:
            raise EegEventsError(path, f"the summary does not list {key}")
        return table[key]
    raise EegEventsError(path, "unknown events format (EDF+, .seizures, CHB-MIT summary .txt, .tsv or .csv)")
