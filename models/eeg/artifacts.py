"""Artifact flags per channel and epoch: flat line, clipping, implausible amplitude, line noise.

Rules on raw (unfiltered) epochs in uV at the recording's rate; thresholds are parameters of
:func:`artifact_flags` (defaults follow common EEG QC practice, e.g. MNE's ``flat`` / ``reject``
peak-to-peak criteria and PREP's line-noise check).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ARTIFACT_KINDS: tuple[str, ...] = ("flat", "clipping", "amplitude", "line_noise")


def artifact_flags(
    epochs: np.ndarray,
    sampling_rate: float,
    physical_range: Sequence[tuple[float, float]] | None = None,
    *,
    flat_ptp_uv: float = 1.0,
    clip_fraction: float = 0.01,
    max_ptp_uv: float = 1500.0,
    line_ratio: float = 0.5,
    line_freqs: Sequence[float] = (50.0, 60.0),
) -> dict[str, np.ndarray]:
    """Boolean flags of each kind, each of shape ``(n_epochs, n_channels)``.

    Parameters
    ----------
    epochs : ndarray, shape (n_epochs, n_channels, n_samples)
        Raw epochs in uV.
    sampling_rate : float
        Hz.
    physical_range : sequence of (min, max), optional
        Recorder range per channel (uV); samples within 0.1 % of it count as clipped.
    flat_ptp_uv : float
        Peak-to-peak below this is a flat line (uV).
    clip_fraction : float
        Fraction of samples at the range limits that counts as clipping.
    max_ptp_uv : float
        Peak-to-peak above this is implausible for EEG (uV).
    line_ratio : float
        Power within 1 Hz of a mains frequency over power in 1-40 Hz above this is line noise
        (only judged when the rate resolves the mains frequency).
    line_freqs : sequence of float
        Mains frequencies (Hz).
    """
    from scipy import signal

    x = np.asarray(epochs, dtype=np.float64)
    n_epochs, n_channels, n_samples = x.shape
    ptp = np.ptp(x, axis=2) if n_samples else np.zeros((n_epochs, n_channels))
    flags = {
        "flat": ptp < flat_ptp_uv,
        "amplitude": ptp > max_ptp_uv,
        "clipping": np.zeros((n_epochs, n_channels), dtype=bool),
        "line_noise": np.zeros((n_epochs, n_channels), dtype=bool),
    }
    if physical_range is not None:
        for j, (lo, hi) in enumerate(physical_range):
            if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
                continue
            tol = 1e-3 * (hi - lo)
            at_limit = (x[:, j, :] <= lo + tol) | (x[:, j, :] >= hi - tol)
            flags["clipping"][:, j] = at_limit.mean(axis=1) >= clip_fraction
    usable = [f for f in line_freqs if f + 1.0 < sampling_rate / 2]
    if usable and n_samples >= int(sampling_rate):
        freqs, psd = signal.welch(x, fs=sampling_rate, nperseg=int(sampling_rate), axis=2)
        brain = psd[..., (freqs >= 1.0) & (freqs <= 40.0)].sum(axis=2) + 1e-12
        mains = np.max([psd[..., np.abs(freqs - f) <= 1.0].sum(axis=2) for f in usable], axis=0)
        flags["line_noise"] = mains / brain > line_ratio
    flags["flat"] &= ~flags["clipping"]
    return {kind: flags[kind] for kind in ARTIFACT_KINDS}
