"""EEG recordings: EDF / EDF+ / BDF (any channel count and rates) and Bonn-style text segments.

:func:`open_eeg` checks a recording whole before anything reads it (header, file size against the
header's data records, channel rates) and raises :class:`EegFileError` naming the file and the
problem. :meth:`EegSource.read` returns any time range ``[start_s, stop_s)`` of chosen channels at
one sampling rate, resampling channels recorded at another rate, so a recording of many hours is
processed block by block without holding it in memory.

Channel names are matched without case, spaces and punctuation after dropping an ``EEG`` prefix, so
``FP1-F7`` = ``Fp1-F7`` = ``EEG FP1-F7``. Channels below :data:`MIN_EEG_RATE` (e.g. a 1 Hz
temperature) and EDF+ annotation channels are not EEG channels.

A Bonn segment (Andrzejak et al. 2001) is a text file with one sample per line and no header; its
sampling rate is not in the file and must be given (173.61 Hz for the Bonn sets).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

#: Lowest channel sampling rate (Hz) treated as EEG (features go up to 30-45 Hz).
MIN_EEG_RATE = 64.0
#: Highest plausible EEG sampling rate (Hz) and shortest usable recording (s).
MAX_EEG_RATE = 100_000.0
MIN_EEG_DURATION_S = 1.0
#: Sampling rate of the Bonn sets (Hz).
BONN_SAMPLING_RATE = 173.61
EDF_SUFFIXES = frozenset({".edf", ".bdf", ".rec"})
TEXT_SUFFIXES = frozenset({".txt", ".asc"})


class EegFileError(ValueError):
    """An EEG recording that cannot be used; ``path`` and ``reason`` say why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def channel_key(name: str) -> str:
    """Channel name without case, punctuation and an ``EEG`` prefix (``EEG Fp1-F7`` -> ``fp1f7``)."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return key[3:] if key.startswith("eeg") and len(key) > 3 else key


@dataclass(frozen=True)
class EegChannel:
    """One signal channel of a recording.

    Attributes
    ----------
    name : str
        Label as in the file (e.g. ``FP1-F7``).
    index : int
        Signal index in the file.
    sampling_rate : float
        Hz.
    n_samples : int
        Samples in the file.
    physical_min, physical_max : float
        Range the recorder can represent (clipping happens there), in ``unit``.
    unit : str
        Physical dimension (``uV`` for most EEG).
    """

    name: str
    index: int
    sampling_rate: float
    n_samples: int
    physical_min: float
    physical_max: float
    unit: str

    @property
    def to_microvolts(self) -> float:
        """Factor from the channel's unit to uV (1 when the unit is unknown)."""
        unit = self.unit.strip().lower().replace("µ", "u").replace("μ", "u")
        return {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}.get(unit, 1.0)

    @property
    def range_uv(self) -> tuple[float, float]:
        """Recorder range in uV (clipping happens at its ends)."""
        return self.physical_min * self.to_microvolts, self.physical_max * self.to_microvolts


@dataclass
class EegSource:
    """A checked recording: channel metadata plus block reads in seconds.

    Attributes
    ----------
    path : Path
        The file given.
    name : str
        Recording name (file stem).
    format : str
        ``edf`` (EDF/EDF+/BDF) or ``text`` (Bonn-style single-channel segment).
    channels : list of EegChannel
        EEG channels (at least :data:`MIN_EEG_RATE`), in file order.
    duration_s : float
        Length of the shortest EEG channel (s).
    """

    path: Path
    name: str
    format: str
    channels: list[EegChannel]
    duration_s: float
    _values: np.ndarray | None = field(default=None, repr=False)

    @property
    def channel_names(self) -> list[str]:
        """EEG channel names in file order."""
        return [c.name for c in self.channels]

    @property
    def sampling_rate(self) -> float:
        """The rate most channels have (Hz); reads default to it."""
        rates = [c.sampling_rate for c in self.channels]
        return max(set(rates), key=lambda r: (rates.count(r), r))

    def channel(self, name: str) -> EegChannel:
        """The channel called ``name`` (matched by :func:`channel_key`).

        Raises
        ------
        EegFileError
            If there is no such EEG channel; the message lists the channels there are.
        """
        wanted = channel_key(name)
        for c in self.channels:
            if channel_key(c.name) == wanted:
                return c
        shown = ", ".join(self.channel_names[:40]) + (" ..." if len(self.channels) > 40 else "")
        raise EegFileError(self.path, f"no EEG channel {name!r}; channels are {shown}")

    def pick(self, names: Sequence[str] | None = None) -> list[str]:
        """Channel names as in the file for ``names`` (default: every EEG channel)."""
        if not names:
            return self.channel_names
        return [self.channel(n).name for n in names]

    def read(self, start_s: float, stop_s: float, channels: Sequence[str] | None = None, rate: float | None = None) -> np.ndarray:
        """Samples of ``[start_s, stop_s)`` in uV, shape ``(n, len(channels))`` at ``rate`` Hz.

        Channels recorded at another rate are resampled (polyphase where the ratio is a small
        fraction, Fourier otherwise); ``n = round((stop_s - start_s) * rate)``.

        Raises
        ------
        EegFileError
            If the range is outside the recording, a channel is unknown or the file cannot be read.
        """
        rate = float(rate or self.sampling_rate)
        chans = [self.channel(n) for n in self.pick(channels)]
        if not (0 <= start_s < stop_s <= self.duration_s + 1e-9):
            raise EegFileError(self.path, f"time range [{start_s:.3f}, {stop_s:.3f}) s outside 0..{self.duration_s:.3f} s")
        n_out = int(round((stop_s - start_s) * rate))
        out = np.empty((n_out, len(chans)))
        reader = None
        try:
            if self.format == "edf":
                import pyedflib

                reader = pyedflib.EdfReader(str(self.path))
            for j, c in enumerate(chans):
                a = int(round(start_s * c.sampling_rate))
                b = min(c.n_samples, max(a + 1, int(round(stop_s * c.sampling_rate))))
                if reader is not None:
                    x = np.asarray(reader.readSignal(c.index, start=a, n=b - a), dtype=np.float64)
                else:
                    assert self._values is not None
                    x = self._values[a:b]
                if len(x) != b - a:
                    raise EegFileError(self.path, f"channel {c.name}: expected {b - a} samples at {a}, the file gave {len(x)}")
                out[:, j] = resample(x * c.to_microvolts, c.sampling_rate, rate, n_out)
        except OSError as err:
            raise EegFileError(self.path, f"cannot read [{start_s:.3f}, {stop_s:.3f}) s: {err}") from None
        finally:
            if reader is not None:
                reader.close()
        return np.nan_to_num(out, nan=0.0)

    def content_hash(self) -> str:
        """SHA-256 of the file: the recording's identity across renames."""
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def resample(x: np.ndarray, from_rate: float, to_rate: float, n_out: int | None = None) -> np.ndarray:
    """Resample a 1-D signal from ``from_rate`` to ``to_rate`` Hz, returning exactly ``n_out`` samples.

    Polyphase filtering (``scipy.signal.resample_poly``) when the rate ratio is a fraction with a
    denominator of at most 64 (256 -> 128 Hz, 500 -> 200 Hz); Fourier resampling otherwise
    (173.61 -> 128 Hz).
    """
    from scipy import signal

    n_out = int(round(len(x) * to_rate / from_rate)) if n_out is None else n_out
    if math.isclose(from_rate, to_rate):
        y = x
    else:
        ratio = Fraction(to_rate / from_rate).limit_denominator(64)
        if math.isclose(float(ratio), to_rate / from_rate, rel_tol=1e-9) and len(x) > 8:
            y = signal.resample_poly(x, ratio.numerator, ratio.denominator)
        else:
            y = signal.resample(x, max(1, int(round(len(x) * to_rate / from_rate))))
    if len(y) >= n_out:
        return y[:n_out]
    return np.pad(y, (0, n_out - len(y)), mode="edge") if len(y) else np.zeros(n_out)


def open_eeg(path: Path, sampling_rate: float | None = None) -> EegSource:
    """Open and check an EEG recording: ``.edf`` / ``.bdf`` (EDF+ and BDF+ too) or a Bonn text segment.

    Parameters
    ----------
    path : Path
        The recording.
    sampling_rate : float, optional
        Hz. Required for a text segment. For EDF it is a check: when given, the file's EEG
        channels must be at this rate.

    Raises
    ------
    EegFileError
        Naming the file: missing, unknown format, bad header, truncated data records, no EEG
        channel, non-numeric text, missing or wrong sampling rate.
    """
    path = Path(path)
    if not path.exists():
        raise EegFileError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in EDF_SUFFIXES:
        source = _open_edf(path)
        if sampling_rate is not None and not any(math.isclose(c.sampling_rate, sampling_rate) for c in source.channels):
            rates = sorted({c.sampling_rate for c in source.channels})
            raise EegFileError(path, f"sampling rate {sampling_rate:g} Hz given, but the file's EEG channels are at {', '.join(f'{r:g}' for r in rates)} Hz")
        return source
    if suffix in TEXT_SUFFIXES:
        return open_text_segment(path, sampling_rate)
    raise EegFileError(path, "unknown EEG format (expected .edf, .bdf or a one-sample-per-line .txt segment)")


def _open_edf(path: Path) -> EegSource:
    import pyedflib

    from cliniloop.connectors.sources.ecg import edf_size_problem

    problem = edf_size_problem(path)
    if problem:
        raise EegFileError(path, problem)
    try:
        with pyedflib.EdfReader(str(path)) as reader:
            labels = [label.strip() for label in reader.getSignalLabels()]
            rates = [float(reader.getSampleFrequency(i)) for i in range(len(labels))]
            lengths = [int(n) for n in reader.getNSamples()]
            pmin = [float(reader.getPhysicalMinimum(i)) for i in range(len(labels))]
            pmax = [float(reader.getPhysicalMaximum(i)) for i in range(len(labels))]
            units = [str(reader.getPhysicalDimension(i)).strip() for i in range(len(labels))]
            duration = float(reader.getFileDuration())
    except OSError as err:
        raise EegFileError(path, f"not a readable EDF/EDF+/BDF file (bad header or truncated data records): {err}") from None
    channels = [
        EegChannel(labels[i], i, rates[i], lengths[i], pmin[i], pmax[i], units[i])
        for i in range(len(labels))
        if rates[i] >= MIN_EEG_RATE and "annotation" not in labels[i].lower()
    ]
    if not channels:
        if labels:
            slow = ", ".join(f"{labels[i]} ({rates[i]:g} Hz)" for i in range(len(labels)))
            raise EegFileError(path, f"no EEG channel at {MIN_EEG_RATE:g} Hz or more: {slow}")
        raise EegFileError(path, "EDF file without signal channels (annotations only?)")
    seen: dict[str, str] = {}
    for c in channels:
        if channel_key(c.name) in seen:
            raise EegFileError(path, f"channels {seen[channel_key(c.name)]!r} and {c.name!r} have the same name")
        seen[channel_key(c.name)] = c.name
    duration = min(duration, *(c.n_samples / c.sampling_rate for c in channels))
    return EegSource(path, path.stem, "edf", channels, duration)


def open_text_segment(path: Path, sampling_rate: float | None) -> EegSource:
    """A single-channel segment written one sample per line (the Bonn format).

    Raises
    ------
    EegFileError
        Without a positive sampling rate, for an empty file, or at the first non-numeric line.
    """
    path = Path(path)
    if sampling_rate is None or not sampling_rate > 0:
        raise EegFileError(path, f"a text segment needs its sampling rate in Hz (e.g. {BONN_SAMPLING_RATE} for the Bonn sets)")
    if sampling_rate < MIN_EEG_RATE:
        raise EegFileError(path, f"sampling rate {sampling_rate:g} Hz is below the {MIN_EEG_RATE:g} Hz EEG needs here (field sampling rate)")
    if not sampling_rate <= MAX_EEG_RATE:
        raise EegFileError(path, f"sampling rate {sampling_rate:g} Hz is implausible (field sampling rate; at most {MAX_EEG_RATE:g} Hz)")
    values: list[float] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                raise EegFileError(path, f"line {number}: {text[:40]!r} is not a number (one sample per line expected)") from None
            if not math.isfinite(value):
                raise EegFileError(path, f"line {number}: {text[:40]!r} is not a finite number (field sample value)")
            values.append(value)
    if len(values) < 2:
        raise EegFileError(path, "no samples")
    if len(values) / float(sampling_rate) < MIN_EEG_DURATION_S:
        raise EegFileError(path, f"{len(values)} samples = {len(values) / float(sampling_rate):.3g} s (field duration; at least {MIN_EEG_DURATION_S:g} s needed)")
    data = np.asarray(values, dtype=np.float64)
    # a text file states no recorder range: clipping is not judged against one
    channel = EegChannel(path.stem, 0, float(sampling_rate), len(data), -math.inf, math.inf, "uV")
    return EegSource(path, path.stem, "text", [channel], len(data) / float(sampling_rate), data)
