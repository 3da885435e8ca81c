"""Beat detection on simulated ECG: every beat found, none invented, chunked = whole, 2-D input."""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.ecg.detect import BeatDetections, BeatDetector

FS = 360.0
TOL = int(0.050 * FS)  # 50 ms


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy 90 s ECG in mV, true R peaks, clean ECG); irregular rhythm around 75 bpm."""
    import neurokit2 as nk

    clean = np.asarray(
        nk.ecg_simulate(duration=90, sampling_rate=int(FS), heart_rate=75, heart_rate_std=6, random_state=0), dtype=float
    )
    _, info = nk.ecg_peaks(clean, sampling_rate=int(FS))
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    rng = np.random.default_rng(0)
    t = np.arange(len(clean)) / FS
    noisy = clean + 0.03 * rng.standard_normal(len(clean)) + 0.15 * np.sin(2 * np.pi * 0.3 * t)
    return noisy, peaks, clean


@pytest.fixture(scope="module")
def detector() -> BeatDetector:
    return BeatDetector().fit()


def _matches(found: np.ndarray, truth: np.ndarray, tol: int = TOL) -> tuple[int, int]:
    """(true beats with a detection within tol, detections with no true beat within tol)."""
    hit = sum(bool(np.any(np.abs(found - p) <= tol)) for p in truth)
    extra = sum(not np.any(np.abs(truth - f) <= tol) for f in found)
    return hit, extra


def test_finds_every_beat_within_50_ms(simulated, detector):
    signal, truth, _ = simulated
    beats = detector.detect(signal, FS)
    assert isinstance(beats, BeatDetections)
    hit, extra = _matches(beats.samples, truth)
    assert len(truth) > 100
    assert hit == len(truth), f"missed {len(truth) - hit} of {len(truth)} beats"
    assert extra == 0
    assert beats.samples.dtype == np.int64 and np.all(np.diff(beats.samples) > 0)
    assert len(beats) == len(beats.samples) == len(beats.confidence)
    assert beats.sampling_rate == FS


def test_confidence_in_unit_interval_and_high_on_clean_beats(simulated, detector):
    signal, _, _ = simulated
    conf = detector.detect(signal, FS).confidence
    assert conf.dtype == np.float64
    assert np.all((conf >= 0) & (conf <= 1))
    assert np.median(conf) > 0.8


def test_no_beats_in_flat_or_noise_only_stretch(simulated, detector):
    signal, truth, _ = simulated
    x = signal.copy()
    a, b = int(20 * FS), int(70 * FS)
    rng = np.random.default_rng(1)
    x[a:b] = 0.1 * rng.standard_normal(b - a)  # 50 s of leads connected, no heart signal (0.1 mV)
    f0, f1 = int(75 * FS), int(85 * FS)
    x[f0:f1] = 0.0  # 10 s flat line
    beats = detector.detect(x, FS).samples
    margin = int(0.3 * FS)
    assert not np.any((beats > a + margin) & (beats < b - margin)), "beats invented in noise"
    assert not np.any((beats > f0 + margin) & (beats < f1 - margin)), "beats invented on a flat line"
    outside = truth[(truth < a - margin) | ((truth > b + margin) & (truth < f0 - margin)) | (truth > f1 + margin)]
    hit, _ = _matches(beats, outside)
    assert hit == len(outside)


def test_entirely_flat_signal_gives_no_beats(detector):
    beats = detector.detect(np.zeros(int(20 * FS)), FS)
    assert len(beats) == 0 and beats.samples.dtype == np.int64


def test_chunked_equals_whole(simulated, detector):
    signal, _, _ = simulated
    whole = detector.detect(signal, FS)
    calls: list[tuple[int, int]] = []
    seen: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> np.ndarray:
        calls.append((start, stop))
        return signal[start:stop]

    chunked = detector.detect_chunked(read, len(signal), FS, chunk_s=20.0, overlap_s=4.0, progress=lambda d, n: seen.append((d, n)))
    assert max(stop - start for start, stop in calls) <= int(28 * FS)  # memory bounded by the chunk
    assert seen[-1] == (len(signal), len(signal))
    assert np.all(np.diff(chunked.samples) > 0)  # no duplicate at chunk borders
    hit, extra = _matches(chunked.samples, whole.samples, tol=2)
    assert len(whole) - hit <= 2 and extra <= 2
    assert abs(len(chunked) - len(whole)) <= 2


def test_two_lead_input(simulated, detector):
    signal, truth, clean = simulated
    rng = np.random.default_rng(2)
    second = -0.6 * clean + 0.03 * rng.standard_normal(len(clean))
    both = np.column_stack([signal, second])
    beats = detector.detect(both, FS)
    hit, extra = _matches(beats.samples, truth)
    assert hit == len(truth) and extra == 0
    # a dead second lead does not hurt
    dead = np.column_stack([signal, np.zeros(len(signal))])
    hit, extra = _matches(detector.detect(dead, FS).samples, truth)
    assert hit == len(truth) and extra == 0


def test_bad_input_and_parameters_raise(detector):
    with pytest.raises(ValueError, match="1-D"):
        detector.detect(np.zeros((10, 2, 2)), FS)
    with pytest.raises(ValueError, match="sampling_rate"):
        detector.detect(np.zeros(1000), 0)
    with pytest.raises(ValueError, match="not an nk.ecg_findpeaks method"):
        BeatDetector(methods=("nope",)).fit()
    with pytest.raises(ValueError, match="min_agreement"):
        BeatDetector(min_agreement=0).fit()


def test_version_tracks_parameters(detector):
    assert detector.version.startswith("beats-")
    assert detector.version == BeatDetector().version
    assert detector.version != BeatDetector(min_agreement=0.75).version
