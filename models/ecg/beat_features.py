"""Per-beat inputs of the beat classifier: resampled morphology and RR-interval context.

Everything is normalised *per record*, which is what lets a model trained on some patients
generalise to others (inter-patient): a beat is described relative to its own record's rhythm
and its own record's dominant beat shape, not in absolute millivolts or seconds.

Signal processing (:func:`beat_inputs`)
---------------------------------------
1. Each lead is band-passed 0.5-40 Hz (2nd-order Butterworth high-pass and 4th-order low-pass,
   zero phase; the low-pass edge is lowered to ``0.45 * sampling_rate`` for slow recordings).
   This removes baseline wander and mains noise and is the anti-aliasing filter for step 2.
2. A window from :data:`PRE_S` (0.25 s) before to :data:`POST_S` (0.45 s) after each beat's
   fiducial sample is resampled by linear interpolation to :data:`MORPH_RATE` (128 Hz), giving
   :data:`MORPH_LENGTH` (90) samples per lead whatever the recording's sampling rate. The window
   holds the P wave, the QRS complex and the T wave. Beats near the record edges are padded
   with the edge value (no beat is dropped).
3. Per-record amplitude normalisation: every lead is divided by its record's median
   peak-to-peak QRS amplitude (within +-60 ms of the fiducial point) over the record's
   *regular* beats (those whose RR is within 10 % of the local RR; all beats if fewer than 10).
   Morphology is then dimensionless (1.0 = a typical QRS of that record and lead).
4. The record template is the sample-wise median of the normalised windows of the regular
   beats: the record's dominant beat shape. ``morphology - template`` is how a beat differs
   from its own record's usual beat, which the classifier uses as extra channels.

RR context (:data:`RR_FEATURES`)
--------------------------------
With ``pre`` the interval to the previous beat, ``post`` to the next, ``local`` the running
median of ``pre`` over the :data:`LOCAL_BEATS` beats centred on the beat, and ``record`` the
record's median RR (all in seconds), the columns are (dimensionless except the ``*_s`` ones):

``log_pre_local``
    ln(pre / local): prematurity against the current rhythm.
``log_post_local``
    ln(post / local): compensatory pause.
``log_pre_record``, ``log_post_record``
    ln(pre / record), ln(post / record): the same against the record's usual rhythm (catches
    runs of premature beats, where ``local`` is short too).
``log_local_record``
    ln(local / record): current rate against the record's usual rate.
``log_post_pre``
    ln(post / pre).
``log_pre_prev``
    ln(pre / previous beat's pre): RR difference.
``log_next_post``
    ln(next beat's post / post).
``irregularity``
    Running median of abs(ln(pre_i / pre_{i-1})) over the local window.
``pre_s``, ``local_s``
    pre and local in seconds.
``log_rr_m3_local``, ``log_rr_m2_local``, ``log_rr_p2_local``, ``log_rr_p3_local``
    ln(interval / local) of the interval before the beat 3 and 2 beats back (m3, m2) and of the
    two intervals after the next beat (p2, p3): the rhythm pattern around the beat.
``z_pre_local``, ``z_post_local``
    Robust z-scores of ln(pre) and ln(post) in the :data:`SPREAD_BEATS` beats around:
    (value - running median) / max(``rr_spread``, 0.03), clipped to +-10. Strongly negative
    for an early beat in a regular rhythm, moderate for the same interval in atrial
    fibrillation.
``pre_rank_record``
    Share of the record's beats whose pre is shorter (0..1).
``rr_spread``
    1.4826 * running median absolute deviation of ln(pre) over :data:`SPREAD_BEATS` beats:
    small in sinus rhythm even with frequent isolated ectopic beats, large in atrial
    fibrillation.

Intervals are clipped to [0.1, 4] s before taking ratios. The first beat's ``pre`` is its
``post`` and the last beat's ``post`` its ``pre``; with fewer than two beats every interval is
:data:`DEFAULT_RR_S`.

Pure numpy/scipy; nothing is computed at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Window start before the fiducial point (s).
PRE_S = 0.25
#: Window end after the fiducial point (s).
POST_S = 0.45
#: Sampling rate of the resampled morphology (Hz).
MORPH_RATE = 128.0
#: Samples per lead in a morphology window.
MORPH_LENGTH = int(round((PRE_S + POST_S) * MORPH_RATE))
#: Band-pass edges (Hz).
BAND_HZ = (0.5, 40.0)
#: Beats in the running-median window of the local RR (odd).
LOCAL_BEATS = 17
#: Beats in the running windows of the robust RR z-scores (odd).
SPREAD_BEATS = 33
#: RR interval (s) assumed when a record has fewer than two beats.
DEFAULT_RR_S = 0.8
#: Half-width of the QRS amplitude window (s).
QRS_HALF_S = 0.06
#: Names of the RR feature columns, in order.
RR_FEATURES: tuple[str, ...] = (
    "log_pre_local",
    "log_post_local",
    "log_pre_record",
    "log_post_record",
    "log_local_record",
    "log_post_pre",
    "log_pre_prev",
    "log_next_post",
    "irregularity",
    "pre_s",
    "local_s",
    "log_rr_m3_local",
    "log_rr_m2_local",
    "log_rr_p2_local",
    "log_rr_p3_local",
    "z_pre_local",
    "z_post_local",
    "pre_rank_record",
    "rr_spread",
)
_RR_CLIP_S = (0.1, 4.0)
_MIN_REGULAR = 10


@dataclass(frozen=True)
class BeatInputs:
    """Model inputs of one record's beats.

    Attributes
    ----------
    morphology : np.ndarray
        ``(n_beats, n_leads, MORPH_LENGTH)`` float32: band-passed windows resampled to
        :data:`MORPH_RATE` Hz from ``-PRE_S`` to ``+POST_S`` around each beat, divided by the
        record's median QRS amplitude per lead (dimensionless).
    template : np.ndarray
        ``(n_leads, MORPH_LENGTH)`` float32: the record's median regular beat (same units).
    rr : np.ndarray
        ``(n_beats, len(RR_FEATURES))`` float32 RR context (columns :data:`RR_FEATURES`).
    amplitude : np.ndarray
        ``(n_leads,)`` float64: the per-lead scale divided out (signal units, e.g. mV).
    record_rr_s : float
        The record's median RR interval (s).
    """

    morphology: np.ndarray
    template: np.ndarray
    rr: np.ndarray
    amplitude: np.ndarray
    record_rr_s: float

    @property
    def n_beats(self) -> int:
        """Number of beats."""
        return int(self.rr.shape[0])


def bandpass(signal: np.ndarray, sampling_rate: float) -> np.ndarray:
    """Zero-phase 0.5-40 Hz band-pass of every column (see module docstring).

    Parameters
    ----------
    signal : np.ndarray
        ``(n_samples, n_leads)`` in any amplitude unit.
    sampling_rate : float
        Hz.

    Returns
    -------
    np.ndarray
        float64 array of the same shape and unit. NaNs are replaced by 0 first; records too
        short to filter are only mean-centred.
    """
    from scipy.signal import butter, sosfiltfilt

    x = np.nan_to_num(np.asarray(signal, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if x.ndim == 1:
        x = x[:, None]
    low, high = BAND_HZ
    high = min(high, 0.45 * sampling_rate)
    sos = np.concatenate(
        [
            butter(2, low, btype="highpass", fs=sampling_rate, output="sos"),
            butter(4, high, btype="lowpass", fs=sampling_rate, output="sos"),
        ]
    )
    padlen = 3 * (2 * sos.shape[0] + 1)
    if x.shape[0] <= max(padlen, int(2 * sampling_rate)):
        return x - x.mean(axis=0, keepdims=True)
    return sosfiltfilt(sos, x, axis=0, padlen=min(x.shape[0] - 1, int(sampling_rate)))


def rr_context(samples: np.ndarray, sampling_rate: float) -> tuple[np.ndarray, float]:
    """RR feature matrix (:data:`RR_FEATURES`) of beats at ``samples``.

    Parameters
    ----------
    samples : np.ndarray
        Beat sample indices, ascending (int).
    sampling_rate : float
        Hz.

    Returns
    -------
    rr : np.ndarray
        ``(n_beats, len(RR_FEATURES))`` float32.
    record_rr : float
        The record's median RR (s).
    """
    from scipy.ndimage import median_filter

    t = np.asarray(samples, dtype=np.float64) / float(sampling_rate)
    n = t.size
    if n == 0:
        return np.zeros((0, len(RR_FEATURES)), np.float32), DEFAULT_RR_S
    if n < 2:
        pre = post = np.full(n, DEFAULT_RR_S)
    else:
        d = np.clip(np.diff(t), *_RR_CLIP_S)
        pre = np.concatenate([d[:1], d])
        post = np.concatenate([d, d[-1:]])
    record = float(np.median(pre))
    size = min(LOCAL_BEATS, n if n % 2 else max(n - 1, 1))
    local = median_filter(pre, size=size, mode="nearest")
    prev_pre = np.concatenate([pre[:1], pre[:-1]])
    next_post = np.concatenate([post[1:], post[-1:]])
    step = np.abs(np.log(pre / prev_pre))
    irregular = median_filter(step, size=size, mode="nearest")
    size_z = min(SPREAD_BEATS, size if n < SPREAD_BEATS else SPREAD_BEATS)
    rank = (np.argsort(np.argsort(pre, kind="stable"), kind="stable") / max(n - 1, 1)) if n > 1 else np.full(n, 0.5)
    cols = [
        np.log(pre / local),
        np.log(post / local),
        np.log(pre / record),
        np.log(post / record),
        np.log(local / record),
        np.log(post / pre),
        np.log(pre / prev_pre),
        np.log(next_post / post),
        irregular,
        pre,
        local,
        np.log(_shifted(pre, -3) / local),
        np.log(_shifted(pre, -2) / local),
        np.log(_shifted(pre, 2) / local),
        np.log(_shifted(pre, 3) / local),
        _robust_z(np.log(pre), size_z),
        _robust_z(np.log(post), size_z),
        rank,
        _running_spread(np.log(pre), size_z),
    ]
    return np.stack(cols, axis=1).astype(np.float32), record


def _running_spread(values: np.ndarray, size: int) -> np.ndarray:
    """1.4826 * running median absolute deviation from the running median."""
    from scipy.ndimage import median_filter

    med = median_filter(values, size=size, mode="nearest")
    return 1.4826 * median_filter(np.abs(values - med), size=size, mode="nearest")


def _robust_z(values: np.ndarray, size: int) -> np.ndarray:
    """(values - running median) / max(running spread, 0.03), clipped to +-10."""
    from scipy.ndimage import median_filter

    med = median_filter(values, size=size, mode="nearest")
    return np.clip((values - med) / np.maximum(_running_spread(values, size), 0.03), -10.0, 10.0)


def _shifted(values: np.ndarray, k: int) -> np.ndarray:
    """``values[i + k]`` for every i, clamped to the first/last element at the ends."""
    idx = np.clip(np.arange(values.size) + k, 0, values.size - 1)
    return values[idx]


def beat_inputs(signal: np.ndarray, sampling_rate: float, samples: np.ndarray) -> BeatInputs:
    """Morphology and RR features of every beat of one record (see module docstring).

    Parameters
    ----------
    signal : np.ndarray
        ``(n_samples, n_leads)`` float, any amplitude unit (a 1-D array is one lead).
    sampling_rate : float
        Hz.
    samples : np.ndarray
        Beat fiducial sample indices (R peaks or annotation positions), ascending; beats
        within the window of the record edges or even outside the record are padded.

    Returns
    -------
    BeatInputs

    Raises
    ------
    ValueError
        For a non-positive sampling rate, an empty signal or unsorted sample indices.
    """
    if not sampling_rate or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate!r}")
    x = np.asarray(signal)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"signal must be (n_samples, n_leads) and non-empty, got shape {x.shape}")
    s = np.asarray(samples, dtype=np.int64).ravel()
    if s.size > 1 and np.any(np.diff(s) < 0):
        raise ValueError("beat samples must be in ascending order")
    n_leads = x.shape[1]
    rr, record_rr = rr_context(s, sampling_rate)
    if s.size == 0:
        empty = np.zeros((0, n_leads, MORPH_LENGTH), np.float32)
        return BeatInputs(empty, np.zeros((n_leads, MORPH_LENGTH), np.float32), rr, np.ones(n_leads), record_rr)

    filtered = bandpass(x, sampling_rate)
    offsets = (np.arange(MORPH_LENGTH) / MORPH_RATE - PRE_S) * sampling_rate  # in input samples
    positions = s[:, None].astype(np.float64) + offsets[None, :]  # (n_beats, L)
    grid = np.arange(filtered.shape[0], dtype=np.float64)
    windows = np.stack(
        [np.interp(positions.ravel(), grid, filtered[:, k]).reshape(positions.shape) for k in range(n_leads)],
        axis=1,
    )  # (n_beats, n_leads, L), edge-padded by np.interp

    regular = np.abs(rr[:, 0]) < np.log(1.1)
    if regular.sum() < _MIN_REGULAR:
        regular = np.ones(s.size, dtype=bool)
    centre = int(round(PRE_S * MORPH_RATE))
    half = max(1, int(round(QRS_HALF_S * MORPH_RATE)))
    qrs = windows[:, :, max(0, centre - half) : centre + half + 1]
    p2p = qrs.max(axis=2) - qrs.min(axis=2)  # (n_beats, n_leads)
    amplitude = np.median(p2p[regular], axis=0)
    fallback = np.median(p2p, axis=0)
    amplitude = np.where(amplitude > 1e-9, amplitude, np.where(fallback > 1e-9, fallback, 1.0))
    morphology = (windows / amplitude[None, :, None]).astype(np.float32)
    template = np.median(morphology[regular], axis=0).astype(np.float32)
    return BeatInputs(morphology, template, rr, amplitude.astype(np.float64), record_rr)
