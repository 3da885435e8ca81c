"""Synthetic multichannel EEG written as EDF+ with known events, block by block (bounded memory).

Background: 1/f noise plus a posterior alpha rhythm, about 20-40 uV. A planted seizure is an
evolving rhythmic discharge (about 6 Hz slowing to 3 Hz, with a spike-like harmonic, 150-300 uV) on
the channels given, tapered on and off over 1 s. Planted artifacts: a flat line (electrode off) and
clipping at the recorder range. Events are written as EDF+ annotations (``seizure``, ``artifact``),
so the file is its own reference. For tests, demos and the memory check; not physiology.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The 10-20 longitudinal bipolar ("double banana") montage, 18 derivations + ECG-free Cz-Pz: 19 channels.
BIPOLAR_19: tuple[str, ...] = (
    "FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2",
    "FP2-F8", "F8-T8", "T8-P8", "P8-O2", "FZ-CZ", "CZ-PZ", "T7-FT9",
)  # fmt: skip
PHYSICAL_RANGE_UV = 1000.0


@dataclass(frozen=True)
class PlantedEvent:
    """An event to plant: ``onset_s``, ``duration_s``, ``label`` (``seizure``/``flat``/``clipping``) and channel indices (None = all)."""

    onset_s: float
    duration_s: float
    label: str = "seizure"
    channels: tuple[int, ...] | None = None


def _background(rng: np.random.Generator, n: int, n_channels: int, fs: float, t0: float) -> np.ndarray:
    white = rng.standard_normal((n_channels, n))
    spectrum = np.fft.rfft(white, axis=1)
    f = np.fft.rfftfreq(n, 1 / fs)
    shape = 1 / np.sqrt(np.maximum(f, 0.5))
    shape[f > 45] *= 0.1
    pink = np.fft.irfft(spectrum * shape, n=n, axis=1)
    pink *= 22 / (pink.std(axis=1, keepdims=True) + 1e-9)
    t = t0 + np.arange(n) / fs
    alpha = 12 * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 2 * np.pi))
    posterior = np.array([1.0 if name.endswith(("O1", "O2", "PZ")) else 0.3 for name in BIPOLAR_19[:n_channels]] + [0.3] * max(0, n_channels - 19))
    return pink + posterior[:n_channels, None] * alpha[None, :]


def _seizure(t: np.ndarray, onset: float, duration: float, rng_phase: float) -> np.ndarray:
    rel = np.clip((t - onset) / duration, 0, 1)
    freq = 6.0 - 3.0 * rel
    phase = 2 * np.pi * np.cumsum(freq) * (t[1] - t[0]) + rng_phase if len(t) > 1 else np.zeros_like(t)
    wave = np.sin(phase) + 0.45 * np.sin(2 * phase + 0.5) + 0.25 * np.sin(3 * phase)
    amp = 150 + 150 * np.sin(np.pi * rel)
    taper = np.clip(np.minimum(t - onset, onset + duration - t), 0, 1.0)
    inside = (t >= onset) & (t < onset + duration)
    return np.where(inside, amp * taper * wave, 0.0)


def write_synthetic_edf(
    path: Path,
    duration_s: float,
    events: Sequence[PlantedEvent] = (),
    *,
    n_channels: int = 19,
    sampling_rate: int = 256,
    seed: int = 0,
    block_s: int = 60,
) -> Path:
    """Write an EDF+ recording of ``n_channels`` bipolar channels with planted events.

    Parameters
    ----------
    path : Path
        Output ``.edf``.
    duration_s : float
        Seconds (rounded down to whole seconds).
    events : sequence of PlantedEvent
        What to plant; ``seizure`` and artifacts (``flat``, ``clipping``) become EDF+ annotations
        ``seizure`` and ``artifact``.
    n_channels : int
        Up to 19 named channels of :data:`BIPOLAR_19` (more get ``EEG<k>`` names).
    sampling_rate : int
        Hz.
    seed : int
        Noise seed (deterministic).
    block_s : int
        Seconds generated and written at a time (memory bound).
    """
    import pyedflib

    rng = np.random.default_rng(seed)
    names = [BIPOLAR_19[i] if i < len(BIPOLAR_19) else f"EEG{i + 1}" for i in range(n_channels)]
    headers = [
        {"label": name, "dimension": "uV", "sample_frequency": sampling_rate, "physical_max": PHYSICAL_RANGE_UV,
         "physical_min": -PHYSICAL_RANGE_UV, "digital_max": 32767, "digital_min": -32768, "transducer": "AgAgCl electrode", "prefilter": ""}
        for name in names
    ]  # fmt: skip
    total = int(duration_s)
    writer = pyedflib.EdfWriter(str(path), n_channels, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        phases = rng.uniform(0, 2 * np.pi, size=(len(events), n_channels))
        for t0 in range(0, total, block_s):
            n = min(block_s, total - t0) * sampling_rate
            t = t0 + np.arange(n) / sampling_rate
            x = _background(rng, n, n_channels, sampling_rate, t0)
            for k, event in enumerate(events):
                if event.onset_s >= t0 + n / sampling_rate or event.onset_s + event.duration_s <= t0:
                    continue
                chans = range(n_channels) if event.channels is None else event.channels
                inside = (t >= event.onset_s) & (t < event.onset_s + event.duration_s)
                for j in chans:
                    if event.label == "seizure":
                        x[j] += _seizure(t, event.onset_s, event.duration_s, phases[k, j])
                    elif event.label == "flat":
                        x[j, inside] = 0.0
                    elif event.label == "clipping":
                        x[j, inside] = np.sign(x[j, inside] + 1e-9) * PHYSICAL_RANGE_UV
            x = np.clip(x, -PHYSICAL_RANGE_UV, PHYSICAL_RANGE_UV)
            writer.writeSamples(list(x))
        for event in events:
            label = "seizure" if event.label == "seizure" else "artifact"
            chans = "" if event.channels is None else "@" + ",".join(names[j] for j in event.channels)
            writer.writeAnnotation(float(event.onset_s), float(event.duration_s), label + chans)
    finally:
        writer.close()
    return Path(path)


def write_synthetic_segment(path: Path, ictal: bool, *, seed: int = 0, sampling_rate: float = 173.61, n_samples: int = 4097) -> Path:
    """A single-channel Bonn-format text segment (one integer sample per line): background, or a seizure throughout."""
    rng = np.random.default_rng(seed)
    x = _background(rng, n_samples, 1, sampling_rate, 0.0)[0] * rng.uniform(0.8, 2.0)
    if ictal:
        t = np.arange(n_samples) / sampling_rate
        x = x + rng.uniform(0.8, 1.5) * _seizure(t, -1.0, t[-1] + 2.0, rng.uniform(0, 2 * np.pi))
    Path(path).write_text("\n".join(str(int(round(v))) for v in x) + "\n", encoding="utf-8")
    return Path(path)
