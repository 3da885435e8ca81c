"""ECG recordings: WFDB, EDF/EDF+ and CSV, read lead by lead in bounded chunks.

:func:`open_ecg` checks a recording completely (header, signal file present and long enough,
leads, sampling rate) before anything reads it, and raises :class:`EcgFileError` naming the file
and the problem. :meth:`EcgSource.read` then returns any sample range of chosen leads, so a 24-hour
recording is processed window by window without holding it in memory.

Lead choice (:meth:`EcgSource.choose_lead`): the requested name if given (case- and
punctuation-insensitive: ``MLII`` = ``ML2`` = ``ml-ii``); otherwise the first present of
:data:`PREFERRED_LEADS` (MLII, II, ECG II, V5, V1, I, ...); otherwise the first channel.
Reference annotations (``.atr``) are read by :func:`read_reference_beats`, for evaluation only.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Leads tried in order when none is named (limb lead II first: the classic rhythm lead).
PREFERRED_LEADS: tuple[str, ...] = ("MLII", "II", "ECGII", "ECG", "V5", "V1", "V2", "I", "III", "AVF")
#: File suffixes per format.
FORMATS = {".hea": "wfdb", ".dat": "wfdb", ".edf": "edf", ".bdf": "edf", ".csv": "csv"}
#: Plausible ECG sampling rates (Hz): below, a window holds too few samples to see a beat;
#: above, the header is wrong (clinical and research ECG is 100 Hz .. 10 kHz).
MIN_SAMPLING_RATE_HZ = 25.0
MAX_SAMPLING_RATE_HZ = 20_000.0
#: Shortest recording worth a window (s), and the most channels one recording may have.
MIN_DURATION_S = 1.0
MAX_CHANNELS = 256
#: Bytes per sample of the WFDB signal formats this reader accepts (others are refused).
WFDB_BYTES_PER_SAMPLE = {"212": 1.5, "16": 2, "61": 2, "80": 1, "160": 2, "24": 3, "32": 4, "8": 1, "310": 4 / 3, "311": 4 / 3}


def check_signal(path: Path, *, sampling_rate: float, n_channels: int, n_samples: int, what: str = "ECG",
                 min_rate: float = MIN_SAMPLING_RATE_HZ, max_rate: float = MAX_SAMPLING_RATE_HZ) -> None:  # fmt: skip
    """Refuse implausible recordings, naming the file and the field.

    Raises
    ------
    EcgFileError
        Sampling rate not finite or outside ``[min_rate, max_rate]`` Hz, no or too many channels,
        or shorter than :data:`MIN_DURATION_S`.
    """
    if not math.isfinite(sampling_rate) or not min_rate <= sampling_rate <= max_rate:
        raise EcgFileError(path, f"sampling rate {sampling_rate:g} Hz is implausible for {what} (field sampling rate; expected {min_rate:g}..{max_rate:g} Hz)")
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise EcgFileError(path, f"{n_channels} channels (field channel count; expected 1..{MAX_CHANNELS})")
    if n_samples / sampling_rate < MIN_DURATION_S:
        raise EcgFileError(path, f"{n_samples} sample(s) = {n_samples / sampling_rate:.3g} s (field duration; at least {MIN_DURATION_S:g} s needed)")


class EcgFileError(ValueError):
    """An ECG recording that cannot be used; ``path`` and ``reason`` say why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _norm(lead: str) -> str:
    """Lead name without case, spaces and punctuation; ML2 = MLII."""
    key = re.sub(r"[^a-z0-9]", "", lead.lower())
    return {"ml2": "mlii", "lead2": "ii", "leadii": "ii", "2": "ii"}.get(key, key)


@dataclass
class EcgSource:
    """A checked recording: metadata plus chunked reads.

    Attributes
    ----------
    path : Path
        The file given (``.hea``/record path, ``.edf``, ``.csv``).
    name : str
        Record name (file stem).
    format : str
        ``wfdb``, ``edf`` or ``csv``.
    sampling_rate : float
        Samples per second (Hz).
    leads : list of str
        Channel names in file order.
    n_samples : int
        Samples per channel.
    """

    path: Path
    name: str
    format: str
    sampling_rate: float
    leads: list[str]
    n_samples: int
    _csv: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.sampling_rate

    def choose_lead(self, lead: str | None = None) -> str:
        """The lead to use: ``lead`` if given, else the first preferred lead present, else channel 0.

        Raises
        ------
        EcgFileError
            If ``lead`` is given and the recording has no such lead (the message lists them).
        """
        by_key = {_norm(name): name for name in self.leads}
        if lead is not None:
            if _norm(lead) not in by_key:
                raise EcgFileError(self.path, f"no lead {lead!r}; leads are {', '.join(self.leads)}")
            return by_key[_norm(lead)]
        for preferred in PREFERRED_LEADS:
            if _norm(preferred) in by_key:
                return by_key[_norm(preferred)]
        return self.leads[0]

    def lead_order(self, lead: str | None = None) -> list[str]:
        """All leads with the chosen one first."""
        first = self.choose_lead(lead)
        return [first, *[name for name in self.leads if name != first]]

    def read(self, start: int, stop: int, leads: Sequence[str] | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` of ``leads`` (default: all), physical units, shape (n, len(leads)).

        Raises
        ------
        EcgFileError
            If the range is outside the recording or the file cannot be read.
        """
        leads = list(leads) if leads is not None else list(self.leads)
        if not 0 <= start < stop <= self.n_samples:
            raise EcgFileError(self.path, f"sample range [{start}, {stop}) outside 0..{self.n_samples}")
        index = [self.leads.index(self.choose_lead(lead)) for lead in leads]
        try:
            if self.format == "wfdb":
                import wfdb

                record = wfdb.rdrecord(str(self.path.with_suffix("")), sampfrom=start, sampto=stop, channels=index)
                data = record.p_signal
            elif self.format == "edf":
                import pyedflib

                with pyedflib.EdfReader(str(self.path)) as reader:
                    data = np.stack([reader.readSignal(i, start=start, n=stop - start) for i in index], axis=1)
            else:
                assert self._csv is not None
                data = self._csv[start:stop, index]
        except Exception as err:  # noqa: BLE001 - readers raise KeyError, IndexError, ... on odd files
            raise EcgFileError(self.path, f"cannot read samples [{start}, {stop}): {type(err).__name__}: {err}") from None
        data = np.asarray(data, dtype=np.float64)
        if data.shape != (stop - start, len(index)):
            raise EcgFileError(self.path, f"expected {stop - start} samples, the file gave {data.shape[0]}")
        return np.nan_to_num(data, nan=0.0)

    def content_hash(self) -> str:
        """SHA-256 over the recording's files (header and signal): its identity across renames."""
        digest = hashlib.sha256()
        for part in self.files():
            with part.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def files(self) -> list[Path]:
        """The files this recording is made of."""
        if self.format == "wfdb":
            base = self.path.with_suffix("")
            return [base.with_suffix(".hea"), *sorted(base.parent.glob(base.name + "*.dat"))]
        return [self.path]


def open_ecg(path: Path, sampling_rate: float | None = None) -> EcgSource:
    """Open and check a recording (WFDB record, ``.edf``/``.bdf``, or ``.csv`` with ``sampling_rate``).

    A WFDB record may be named by its ``.hea``, its ``.dat`` or its path without suffix. A CSV has a
    header row of lead names and one row per sample; a ``time``/``t`` column is dropped.

    Raises
    ------
    EcgFileError
        Naming the file: missing, unknown format, unreadable header, missing or truncated signal
        file, EDF with a bad header, CSV without a sampling rate or with non-numeric values.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = FORMATS.get(suffix) or ("wfdb" if path.with_suffix(".hea").exists() else None)
    if fmt is None:
        raise EcgFileError(path, "unknown ECG format (expected a WFDB record, .edf/.bdf or .csv)")
    if fmt == "wfdb":
        return _open_wfdb(path.with_suffix(".hea") if suffix in {"", ".dat"} or suffix not in FORMATS else path)
    if not path.exists():
        raise EcgFileError(path, "no such file")
    if fmt == "edf":
        return _open_edf(path)
    return _open_csv(path, sampling_rate)


def _open_wfdb(header: Path) -> EcgSource:
    import wfdb

    if not header.exists():
        raise EcgFileError(header, "no such WFDB header file")
    try:
        meta = wfdb.rdheader(str(header.with_suffix("")))
    except Exception as err:  # noqa: BLE001 - wfdb raises many types for a bad header
        raise EcgFileError(header, f"unreadable WFDB header: {err}") from None
    if not meta.sig_name or not meta.fs or not meta.sig_len:
        raise EcgFileError(header, "WFDB header without signals, sampling frequency or length")
    _check_wfdb_record_line(header, meta)
    check_signal(header, sampling_rate=float(meta.fs), n_channels=len(meta.sig_name), n_samples=int(meta.sig_len))
    for name, gain in zip(meta.sig_name, meta.adc_gain or [], strict=False):
        if not math.isfinite(float(gain)) or float(gain) < 0:
            raise EcgFileError(header, f"lead {name}: gain {gain} (field adc_gain; must be a finite number >= 0)")
    per_file: dict[str, float] = {}
    for file_name, fmt in zip(meta.file_name, meta.fmt, strict=True):
        if str(fmt) not in WFDB_BYTES_PER_SAMPLE:
            raise EcgFileError(header, f"signal format {fmt} is not supported (field fmt; known: {', '.join(WFDB_BYTES_PER_SAMPLE)})")
        per_file[file_name] = per_file.get(file_name, 0) + WFDB_BYTES_PER_SAMPLE[str(fmt)]
    for file_name, width in per_file.items():
        dat = header.parent / file_name
        if not dat.exists():
            raise EcgFileError(dat, f"signal file named by {header.name} is missing")
        need = int(width * meta.sig_len)
        have = dat.stat().st_size
        if have < need - 2:
            raise EcgFileError(dat, f"truncated signal: {have:,} bytes, the header needs {need:,} ({meta.sig_len:,} samples)")
    return EcgSource(header, header.stem, "wfdb", float(meta.fs), list(meta.sig_name), int(meta.sig_len))


def _check_wfdb_record_line(header: Path, meta: object) -> None:
    """Compare the header's own record line with what wfdb parsed (it silently defaults a bad one).

    wfdb reads a sampling frequency it cannot parse (``-360``) as 250 Hz, and a signal count
    that differs from the signal lines is not noticed: both are refused here.
    """
    try:
        lines = [ln.strip() for ln in header.read_text(encoding="ascii", errors="replace").splitlines()]
    except OSError as err:
        raise EcgFileError(header, f"unreadable WFDB header: {err}") from None
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    fields = lines[0].split() if lines else []
    if len(fields) >= 2 and "/" not in fields[0]:  # multi-segment records list segments, not signals
        declared = fields[1].split("/")[0]
        signal_lines = len(lines) - 1
        if not declared.isdigit() or int(declared) != signal_lines:
            raise EcgFileError(header, f"the record line declares {declared} signal(s), the header has {signal_lines} signal line(s) (field signal count)")
    for number, line in enumerate(lines[1:] if "/" not in (fields[0] if fields else "/") else [], start=1):
        parts = line.split()
        if len(parts) >= 3:
            gain = re.split(r"[/(]", parts[2])[0]
            try:
                ok = math.isfinite(float(gain)) and float(gain) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise EcgFileError(header, f"signal {number}: gain {gain!r} (field adc_gain; must be a finite number >= 0)")
    if len(fields) >= 3:
        raw = re.split(r"[/(]", fields[2])[0]
        try:
            fs = float(raw)
        except ValueError:
            raise EcgFileError(header, f"sampling frequency {raw!r} is not a number (field fs)") from None
        if not math.isfinite(fs) or abs(fs - float(meta.fs)) > 1e-6 * max(1.0, abs(fs)):  # type: ignore[attr-defined]
            raise EcgFileError(header, f"sampling frequency {raw} Hz is implausible (field fs)")


def edf_size_problem(path: Path) -> str | None:
    """Why an EDF/BDF file's size differs from what its header declares (truncated or trailing
    bytes), or ``None`` when it matches.

    Checked before pyedflib opens a file (pyedflib prints its own "filesize … != …" to stdout).
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(256)
            n_signals = int(head[252:256].decode("ascii").strip())
            n_records = int(head[236:244].decode("ascii").strip())
            handle.seek(256 + n_signals * 216)
            samples = handle.read(n_signals * 8).decode("ascii")
        per_record = sum(int(samples[i * 8 : (i + 1) * 8].strip()) for i in range(n_signals))
    except (OSError, ValueError, UnicodeDecodeError):
        return "not a readable EDF/EDF+ file: bad header"
    width = 3 if head[:1] == b"\xff" else 2
    expected = 256 * (n_signals + 1) + n_records * per_record * width
    actual = path.stat().st_size
    if n_records >= 0 and actual != expected:
        what = "trailing bytes" if actual > expected else "truncated"
        return f"not a readable EDF/EDF+ file: file size {actual:,} bytes, the header declares {expected:,} ({what}; field number of data records)"
    return None


def _open_edf(path: Path) -> EcgSource:
    import pyedflib

    problem = edf_size_problem(path)
    if problem:
        raise EcgFileError(path, problem)
    try:
        with pyedflib.EdfReader(str(path)) as reader:
            labels = [label.strip() for label in reader.getSignalLabels()]
            rates = [float(reader.getSampleFrequency(i)) for i in range(len(labels))]
            lengths = [int(n) for n in reader.getNSamples()]
    except OSError as err:
        raise EcgFileError(path, f"not a readable EDF/EDF+ file: {err}") from None
    keep = [i for i, label in enumerate(labels) if "annotation" not in label.lower()]
    if not keep:
        raise EcgFileError(path, "EDF file without signal channels")
    rate = rates[keep[0]]
    same = [i for i in keep if rates[i] == rate]
    if len(same) < len(keep):
        # channels at other rates (e.g. a 1 Hz temperature) are left out
        keep = same
    n = min(lengths[i] for i in keep)
    check_signal(path, sampling_rate=rate, n_channels=len(keep), n_samples=n)
    return EcgSource(path, path.stem, "edf", rate, [labels[i] for i in keep], n)


def _open_csv(path: Path, sampling_rate: float | None) -> EcgSource:
    import pandas as pd

    if sampling_rate is None:
        raise EcgFileError(path, "a CSV recording needs its sampling rate (e.g. --sampling-rate 360)")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise EcgFileError(path, f"unreadable CSV: {err}") from None
    frame = frame.drop(columns=[c for c in frame.columns if str(c).strip().lower() in {"t", "time", "time_s", "sample"}])
    if frame.empty or frame.shape[1] == 0:
        raise EcgFileError(path, "CSV without samples or lead columns")
    try:
        values = frame.to_numpy(dtype=np.float64)
    except ValueError:
        bad = next(c for c in frame.columns if pd.to_numeric(frame[c], errors="coerce").isna().any())
        raise EcgFileError(path, f"column {bad!r} holds non-numeric values") from None
    if not np.isfinite(values).all():
        row, col = (int(v) for v in np.argwhere(~np.isfinite(values))[0])
        raise EcgFileError(path, f"row {row + 2}, column {str(frame.columns[col])!r}: missing, NaN or infinite value (ragged or corrupt CSV)")
    check_signal(path, sampling_rate=float(sampling_rate), n_channels=values.shape[1], n_samples=len(values))
    return EcgSource(path, path.stem, "csv", float(sampling_rate), [str(c).strip() for c in frame.columns], len(values), values)


def read_reference_beats(path: Path, extension: str = "atr") -> tuple[np.ndarray, list[str]]:
    """Reference annotations of a WFDB record (sample indices and symbols); for evaluation only.

    Raises
    ------
    EcgFileError
        If the annotation file is missing or unreadable.
    """
    import wfdb

    base = Path(path).with_suffix("")
    ann_path = base.with_suffix("." + extension)
    if not ann_path.exists():
        raise EcgFileError(ann_path, "no such annotation file")
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as err:  # noqa: BLE001
        raise EcgFileError(ann_path, f"unreadable annotation file: {err}") from None
    return np.asarray(ann.sample, dtype=np.int64), list(ann.symbol)
