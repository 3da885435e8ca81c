"""Per-epoch EEG features (one row per epoch of one channel), from scipy's Welch spectrum.

Input epochs are band-limited to 0.5-40 Hz at :data:`FEATURE_RATE` (see
:func:`prepare_signal`), so the features mean the same whatever rate the recording had. Features
(:data:`FEATURE_NAMES`): log variance and peak-to-peak amplitude (uV^2, uV), log line length per
second, Hjorth mobility and complexity, log absolute and relative power in the delta (0.5-4 Hz),
theta (4-8), alpha (8-13), beta (13-30) and gamma (30-40) bands, spectral edge frequency (90 %),
spectral entropy, peak frequency (Hz), skewness, kurtosis, zero crossings and local extrema per
second. These are the classic seizure-detection features (line length: Esteller et al. 2001;
Hjorth 1970; band powers as in yasa's ``bandpower``).
"""

from __future__ import annotations

import numpy as np

#: Rate (Hz) every recording is resampled to before features.
FEATURE_RATE = 128.0
#: Pass band (Hz) applied before features.
PASS_BAND = (0.5, 40.0)
BANDS: tuple[tuple[str, float, float], ...] = (
    ("delta", 0.5, 4.0), ("theta", 4.0, 8.0), ("alpha", 8.0, 13.0), ("beta", 13.0, 30.0), ("gamma", 30.0, 40.0),
)  # fmt: skip
FEATURE_NAMES: tuple[str, ...] = (
    "log_var", "log_ptp", "log_line_length", "hjorth_mobility", "hjorth_complexity",
    *(f"log_{b[0]}" for b in BANDS), *(f"rel_{b[0]}" for b in BANDS),
    "edge_90", "spectral_entropy", "peak_freq", "skew", "kurtosis", "zero_cross_rate", "extrema_rate",
)  # fmt: skip


def prepare_signal(x: np.ndarray, sampling_rate: float) -> np.ndarray:
    """Band-pass ``x`` (samples along axis 0, any further axes) to :data:`PASS_BAND` (4th-order, zero phase)."""
    from scipy import signal

    sos = signal.butter(4, [PASS_BAND[0], min(PASS_BAND[1], 0.45 * sampling_rate)], btype="band", fs=sampling_rate, output="sos")
    x = x - np.mean(x, axis=0, keepdims=True)
    return signal.sosfiltfilt(sos, x, axis=0)


def epoch_features(epochs: np.ndarray, sampling_rate: float = FEATURE_RATE) -> np.ndarray:
    """Features of single-channel epochs.

    Parameters
    ----------
    epochs : ndarray, shape (n_epochs, n_samples)
        Band-limited epochs (uV) at ``sampling_rate`` Hz.
    sampling_rate : float
        Hz.

    Returns
    -------
    ndarray, shape (n_epochs, len(FEATURE_NAMES))
    """
    from scipy import signal, stats

    x = np.asarray(epochs, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 16:
        raise ValueError(f"epochs must be (n_epochs, n_samples >= 16), got {x.shape}")
    eps = 1e-12
    fs = float(sampling_rate)
    duration = x.shape[1] / fs
    x = x - x.mean(axis=1, keepdims=True)
    var = x.var(axis=1)
    dx = np.diff(x, axis=1)
    ddx = np.diff(dx, axis=1)
    mobility = np.sqrt(dx.var(axis=1) / (var + eps)) * fs
    complexity = np.sqrt(ddx.var(axis=1) / (dx.var(axis=1) + eps)) * fs / (mobility + eps)
    line_length = np.abs(dx).sum(axis=1) / duration
    freqs, psd = signal.welch(x, fs=fs, nperseg=min(x.shape[1], int(2 * fs)), axis=1)
    df = freqs[1] - freqs[0]
    in_band = (freqs >= PASS_BAND[0]) & (freqs <= PASS_BAND[1])
    total = psd[:, in_band].sum(axis=1) * df + eps
    band_power = np.stack([psd[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) * df for _, lo, hi in BANDS], axis=1)
    p = psd[:, in_band] / (psd[:, in_band].sum(axis=1, keepdims=True) + eps)
    cumulative = np.cumsum(p, axis=1)
    edge = freqs[in_band][np.argmax(cumulative >= 0.9, axis=1)]
    entropy = -(p * np.log(p + eps)).sum(axis=1) / np.log(p.shape[1])
    peak = freqs[in_band][np.argmax(psd[:, in_band], axis=1)]
    zero_cross = (np.diff(np.signbit(x), axis=1) != 0).sum(axis=1) / duration
    extrema = (np.diff(np.signbit(dx), axis=1) != 0).sum(axis=1) / duration
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = np.nan_to_num(stats.skew(x, axis=1))
        kurt = np.nan_to_num(stats.kurtosis(x, axis=1))
    return np.column_stack(
        [
            np.log(var + eps), np.log(np.ptp(x, axis=1) + eps), np.log(line_length + eps), mobility, complexity,
            np.log(band_power + eps), band_power / total[:, None],
            edge, entropy, peak, skew, kurt, zero_cross, extrema,
        ]
    )  # fmt: skip


def epoch_starts(duration_s: float, epoch_s: float, step_s: float) -> np.ndarray:
    """Start times (s) of overlapping epochs ``[k * step_s, k * step_s + epoch_s)`` inside ``duration_s``.

    A last epoch ending exactly at the end is added when the grid misses the tail.
    """
    if duration_s < epoch_s:
        return np.zeros(0)
    starts = np.arange(0.0, duration_s - epoch_s + 1e-9, step_s)
    if duration_s - (starts[-1] + epoch_s) > step_s / 2:
        starts = np.append(starts, duration_s - epoch_s)
    return starts
