"""Beat (QRS) detection: the field's detectors combined by weighted voting, with search-back.

No detector of our own: every candidate beat comes from a published QRS detector as implemented
in neurokit2 (``nk.ecg_findpeaks``); this module only combines them.

Method (:class:`BeatDetector`)
------------------------------
1. **Cleaning.** Each lead (at most ``max_leads`` columns, in the order given: put the preferred
   lead first) is reflect-padded by ``pad_s`` seconds at both ends (so that the detectors'
   learning periods and filter transients fall outside the signal) and cleaned with
   ``nk.ecg_clean(method="neurokit")`` (0.5 Hz high-pass, power-line notch). A flat lead is
   skipped.
2. **Candidates.** Every detector in ``methods`` runs on every cleaned lead; each
   (lead, detector) pair is one *voter*. A detector that raises abstains (is not counted). Each
   candidate is moved to the largest ``|cleaned|`` within ``align_s`` seconds (R-peak alignment,
   so that the voters of a lead agree on one sample).
3. **Clusters.** Candidates of all voters are pooled and sorted; consecutive candidates closer
   than ``cluster_s`` seconds form one cluster (a candidate beat). Its position is the median of
   the first lead's candidates in it (of all its candidates when the first lead has none); its
   *amplitude ratio* is, over the leads, the largest ``|cleaned|`` within ``align_s`` divided by
   that lead's median over the majority clusters.
4. **Majority vote.** A cluster's *agreement* is the fraction of voters in it. Clusters with
   agreement >= ``min_agreement`` and amplitude ratio >= ``min_amplitude`` form the consensus.
5. **Weighted vote** (``weighting_s`` > 0). Each voter is weighted, around each cluster, by its
   agreement with the consensus within +-``weighting_s`` seconds (bSQI of Li, Mark & Clifford
   2008: matched / (voter's + consensus's - matched) beats), and agreement becomes the weighted
   fraction. A lead whose detectors fire on an artefact that the other lead's detectors, reliable
   there, do not see is outvoted; a noisy lead loses its say where it is noisy.
6. **Refractory merging.** Clusters passing step 5's threshold (and ``min_amplitude``) are
   accepted greedily, highest agreement first (then largest amplitude), skipping any within
   ``refractory_s`` seconds of one already accepted.
7. **Search-back.** Where an RR interval exceeds ``searchback_rr`` times the median of the nine
   RR intervals around it, the best minority cluster inside the gap (highest agreement, at least
   ``searchback_min_agreement``; amplitude ratio at least ``searchback_min_amplitude``; at least
   ``refractory_s`` from both neighbours) is added; repeated up to ``searchback_passes`` times.
8. **Regional-agreement gate** (``sqi_window_s`` > 0). Where, within +-``sqi_window_s`` seconds,
   under ``sqi_min`` of every lead's candidates coincide with accepted beats (the detectors
   disagree: ventricular flutter, heavy noise), a beat found by fewer than ``sqi_keep_agreement``
   of the voters is dropped.
9. A beat peaking on the first or last two samples of the signal (a mirror image of the padding,
   or a beat cut by the edge) is not reported.

Confidence
----------
``confidence = agreement * min(1, amplitude_ratio / 0.5)``: the (weighted) fraction of voters
that found the beat, lowered for a beat under half the lead's median amplitude. A beat found by
every detector on every lead scores about 1; majority beats score >= ``min_agreement`` unless
small; search-back beats score below ``min_agreement`` by construction.

Accuracy and cost (MIT-BIH, 26 records, 2 leads, 150 ms window, 360 Hz): sensitivity 0.9984,
positive predictivity 0.998, about 1.0 CPU second per hour of ECG (see
:func:`cliniloop.services.evaluation.ecg_detect.evaluate_detection`). One lead alone: 0.994 / 0.994.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib.metadata as md
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Default detectors: the fast and mutually complementary ones of neurokit2 (CPU per hour of
#: one lead at 360 Hz: neurokit 0.08 s, pantompkins1985 0.05 s, manikandan2012 0.19 s,
#: kalidas2017 0.08 s; cleaning 0.04 s).
DEFAULT_METHODS: tuple[str, ...] = ("neurokit", "pantompkins1985", "manikandan2012", "kalidas2017")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BeatDetections:
    """Detected beats of one recording (or signal).

    Attributes
    ----------
    samples : np.ndarray
        Sample indices of the beats (R peaks) into the signal, int64, strictly increasing.
    confidence : np.ndarray
        Per-beat confidence in [0, 1] (see the module docstring), float64, aligned with ``samples``.
    sampling_rate : float
        Sampling rate of the signal in Hz.
    """

    samples: np.ndarray
    confidence: np.ndarray
    sampling_rate: float

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def times_s(self) -> np.ndarray:
        """Beat times in seconds from the start of the signal."""
        return self.samples / self.sampling_rate


@dataclass
class _Candidates:
    """Cleaned leads and per-voter aligned candidates of one padded block (internal)."""

    cleaned: list[np.ndarray]  # one array per lead, padded
    voters: list[tuple[int, str, np.ndarray]]  # (lead index, method, aligned candidates, padded coordinates)
    pad: int
    n: int


class BeatDetector:
    """Beat detector combining neurokit2's QRS detectors over leads by voting with search-back.

    Scikit-learn style: the constructor only stores parameters; :meth:`fit` validates them and
    returns ``self`` (nothing is learnt).

    Parameters
    ----------
    methods : sequence of str
        ``nk.ecg_findpeaks`` methods that vote (default :data:`DEFAULT_METHODS`).
    max_leads : int
        Use at most this many leads (the first columns of a 2-D signal); CPU grows linearly.
    min_agreement : float
        Fraction of voters (lead x detector pairs) that must find a beat for it to be accepted
        without search-back, in (0, 1].
    cluster_s : float
        Candidates closer than this (seconds, chained) are the same beat.
    align_s : float
        Half-width (seconds) of the window in which a candidate is moved to the largest
        ``|cleaned signal|``.
    refractory_s : float
        Two beats are never closer than this (seconds).
    min_amplitude : float
        Smallest amplitude ratio (beat amplitude / median beat amplitude of its lead) of an
        accepted beat; rejects agreement on noise in flat or disconnected stretches.
    searchback_rr : float
        An RR interval longer than this multiple of the local median RR is searched back.
    searchback_min_agreement : float
        Lowest agreement of a beat added by search-back.
    searchback_min_amplitude : float
        Smallest amplitude ratio of a beat added by search-back.
    searchback_passes : int
        Search-back passes (each adds at most one beat per gap).
    weighting_s : float
        Half-width (seconds) of the window in which voters are weighted by their agreement with
        the consensus; 0 = plain (unweighted) votes.
    sqi_window_s : float
        Half-width (seconds) of the regional-agreement gate's window; 0 = no gate.
    sqi_min : float
        Regional agreement under which only near-unanimous beats are kept.
    sqi_keep_agreement : float
        Fraction of voters that keeps a beat whatever the regional agreement.
    pad_s : float
        Reflect padding (seconds) added to both ends of a block before detection.
    """

    def __init__(
        self,
        methods: Sequence[str] = DEFAULT_METHODS,
        *,
        max_leads: int = 2,
        min_agreement: float = 0.5,
        cluster_s: float = 0.075,
        align_s: float = 0.05,
        refractory_s: float = 0.2,
        min_amplitude: float = 0.15,
        searchback_rr: float = 1.5,
        searchback_min_agreement: float = 0.375,
        searchback_min_amplitude: float = 0.3,
        searchback_passes: int = 4,
        weighting_s: float = 30.0,
        sqi_window_s: float = 2.0,
        sqi_min: float = 0.5,
        sqi_keep_agreement: float = 0.85,
        pad_s: float = 2.0,
    ) -> None:
        self.methods = tuple(methods)
        self.max_leads = max_leads
        self.min_agreement = min_agreement
        self.cluster_s = cluster_s
        self.align_s = align_s
        self.refractory_s = refractory_s
        self.min_amplitude = min_amplitude
        self.searchback_rr = searchback_rr
        self.searchback_min_agreement = searchback_min_agreement
        self.searchback_min_amplitude = searchback_min_amplitude
        self.searchback_passes = searchback_passes
        self.weighting_s = weighting_s
        self.sqi_window_s = sqi_window_s
        self.sqi_min = sqi_min
        self.sqi_keep_agreement = sqi_keep_agreement
        self.pad_s = pad_s

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, object]:
        """Constructor parameters (scikit-learn convention)."""
        return {
            "methods": self.methods,
            "max_leads": self.max_leads,
            "min_agreement": self.min_agreement,
            "cluster_s": self.cluster_s,
            "align_s": self.align_s,
            "refractory_s": self.refractory_s,
            "min_amplitude": self.min_amplitude,
            "searchback_rr": self.searchback_rr,
            "searchback_min_agreement": self.searchback_min_agreement,
            "searchback_min_amplitude": self.searchback_min_amplitude,
            "searchback_passes": self.searchback_passes,
            "weighting_s": self.weighting_s,
            "sqi_window_s": self.sqi_window_s,
            "sqi_min": self.sqi_min,
            "sqi_keep_agreement": self.sqi_keep_agreement,
            "pad_s": self.pad_s,
        }

    def fit(self, X: object = None, y: object = None) -> BeatDetector:
        """Validate the parameters; nothing is learnt.

        Raises
        ------
        ValueError
            For an empty or unknown method list or a parameter out of range.
        """
        if not self.methods:
            raise ValueError("methods: give at least one nk.ecg_findpeaks method")
        from neurokit2.ecg.ecg_findpeaks import _ecg_findpeaks_findmethod

        for method in self.methods:
            try:
                _ecg_findpeaks_findmethod(method)
            except ValueError:
                raise ValueError(f"methods: {method!r} is not an nk.ecg_findpeaks method") from None
        for name in ("min_agreement", "searchback_min_agreement", "sqi_keep_agreement"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.max_leads < 1:
            raise ValueError(f"max_leads must be >= 1, got {self.max_leads}")
        for name in ("cluster_s", "align_s", "refractory_s", "pad_s", "weighting_s", "sqi_window_s", "min_amplitude"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        return self

    @property
    def version(self) -> str:
        """``beats-<hash>``: changes with the parameters, this module's code or neurokit2's version."""
        digest = hashlib.sha256(repr(sorted(self.get_params().items())).encode())
        digest.update(Path(__file__).read_bytes())
        try:
            digest.update(f"neurokit2={md.version('neurokit2')}".encode())
        except md.PackageNotFoundError:
            digest.update(b"neurokit2")
        return f"beats-{digest.hexdigest()[:12]}"

    # ------------------------------------------------------------------ detection
    def detect(self, signal: np.ndarray, sampling_rate: float) -> BeatDetections:
        """Beats of a whole signal held in memory.

        Parameters
        ----------
        signal : np.ndarray
            Shape (n_samples,) for one lead or (n_samples, n_leads); physical units (e.g. mV).
            NaNs are read as 0. The first column is the reference lead for beat positions.
        sampling_rate : float
            Sampling rate in Hz.

        Returns
        -------
        BeatDetections
            Sorted beat samples with confidences.

        Raises
        ------
        ValueError
            For a signal that is not 1-D or 2-D or a non-positive sampling rate.
        """
        fs = float(sampling_rate)
        if not fs > 0:
            raise ValueError(f"sampling_rate must be > 0 Hz, got {sampling_rate}")
        x = _as_2d(signal)[:, : self.max_leads]
        samples, confidence = self._detect_block(x, fs)
        return BeatDetections(samples, confidence, fs)

    def detect_chunked(
        self,
        read: Callable[[int, int], np.ndarray],
        n_samples: int,
        sampling_rate: float,
        chunk_s: float = 300.0,
        overlap_s: float = 5.0,
        progress: Progress | None = None,
    ) -> BeatDetections:
        """Beats of a long recording read in overlapping chunks (memory bounded by the chunk).

        Each chunk's core ``[start, start + chunk)`` is read with ``overlap_s`` seconds of context
        on both sides; only beats inside the core are kept, so every beat belongs to exactly one
        chunk.

        Parameters
        ----------
        read : callable
            ``read(start, stop)`` returns samples ``[start, stop)`` as a float array of shape
            (n,) or (n, n_leads) (first column = reference lead).
        n_samples : int
            Length of the recording in samples.
        sampling_rate : float
            Sampling rate in Hz.
        chunk_s : float
            Core length of a chunk in seconds.
        overlap_s : float
            Context read on each side of a core, in seconds.
        progress : callable, optional
            Called as ``progress(samples_done, n_samples)`` after each chunk.

        Returns
        -------
        BeatDetections
            As :meth:`detect` on the whole recording (beats within a few seconds of a chunk
            border may differ in rare cases).

        Raises
        ------
        ValueError
            For a non-positive sampling rate or chunk length, or a read of the wrong length.
        """
        fs = float(sampling_rate)
        if not fs > 0:
            raise ValueError(f"sampling_rate must be > 0 Hz, got {sampling_rate}")
        chunk = int(round(chunk_s * fs))
        if chunk <= 0:
            raise ValueError(f"chunk_s must be > 0 seconds, got {chunk_s}")
        overlap = max(0, int(round(overlap_s * fs)))
        all_samples: list[np.ndarray] = []
        all_conf: list[np.ndarray] = []
        for start in range(0, int(n_samples), chunk):
            stop = min(int(n_samples), start + chunk)
            a, b = max(0, start - overlap), min(int(n_samples), stop + overlap)
            block = _as_2d(np.asarray(read(a, b), dtype=np.float64))
            if block.shape[0] != b - a:
                raise ValueError(f"read({a}, {b}) returned {block.shape[0]} samples, expected {b - a}")
            samples, confidence = self._detect_block(block[:, : self.max_leads], fs)
            samples = samples + a
            keep = (samples >= start) & (samples < stop)
            all_samples.append(samples[keep])
            all_conf.append(confidence[keep])
            if progress is not None:
                progress(stop, int(n_samples))
        samples = np.concatenate(all_samples) if all_samples else np.zeros(0, np.int64)
        confidence = np.concatenate(all_conf) if all_conf else np.zeros(0)
        # two chunks may place one beat on both sides of their border: keep the more confident
        refractory = int(round(self.refractory_s * fs))
        while len(samples) > 1:
            close = np.flatnonzero(np.diff(samples) < refractory)
            if len(close) == 0:
                break
            drop = np.where(confidence[close] < confidence[close + 1], close, close + 1)
            keep = np.ones(len(samples), bool)
            keep[drop[:1]] = False  # one at a time: neighbours may chain
            samples, confidence = samples[keep], confidence[keep]
        return BeatDetections(samples.astype(np.int64), confidence.astype(np.float64), fs)

    # ------------------------------------------------------------------ internals
    def _detect_block(self, x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
        """Detect in one (n, leads) block; sample indices relative to the block."""
        cand = self._candidates(x, fs)
        return self._combine(cand, fs)

    def _candidates(self, x: np.ndarray, fs: float) -> _Candidates:
        """Clean every lead and run every detector on it; aligned candidates per voter."""
        n = x.shape[0]
        pad = int(round(self.pad_s * fs))
        cleaned: list[np.ndarray] = []
        voters: list[tuple[int, str, np.ndarray]] = []
        if n < int(fs):  # under a second: no beat can be confirmed
            return _Candidates(cleaned, voters, pad, n)
        import warnings

        import neurokit2 as nk

        half = int(round(self.align_s * fs))
        for lead in range(x.shape[1]):
            raw = np.nan_to_num(x[:, lead], nan=0.0, posinf=0.0, neginf=0.0)
            if not np.ptp(raw) > 0:
                cleaned.append(np.zeros(n + 2 * pad))
                continue  # flat lead: no voters
            padded = np.pad(raw, pad, mode="reflect") if pad else raw
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clean = np.asarray(nk.ecg_clean(padded, sampling_rate=fs, method="neurokit"), dtype=np.float64)
            cleaned.append(clean)
            for method in self.methods:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        found = nk.ecg_findpeaks(clean, sampling_rate=fs, method=method)["ECG_R_Peaks"]
                except Exception as err:  # noqa: BLE001 - a failing detector abstains
                    logger.debug("detector %s failed on lead %d: %r", method, lead, err)
                    continue
                peaks = np.asarray(found, dtype=np.int64)
                aligned = _align(clean, peaks, half)
                aligned = aligned[(aligned >= pad) & (aligned < pad + n)]
                voters.append((lead, method, np.unique(aligned)))
        return _Candidates(cleaned, voters, pad, n)

    def _combine(self, cand: _Candidates, fs: float) -> tuple[np.ndarray, np.ndarray]:
        """Vote, merge, search back and score; sample indices relative to the unpadded block."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        n_voters = len(cand.voters)
        if n_voters == 0:
            return empty
        sizes = [len(v[2]) for v in cand.voters]
        if sum(sizes) == 0:
            return empty
        pos = np.concatenate([v[2] for v in cand.voters])
        vid = np.repeat(np.arange(n_voters), sizes)
        lead_of = np.repeat(np.array([v[0] for v in cand.voters]), sizes)
        order = np.argsort(pos, kind="stable")
        pos, vid, lead_of = pos[order], vid[order], lead_of[order]

        # clusters of candidates (chained within cluster_s)
        starts = np.r_[True, np.diff(pos) > max(1, int(round(self.cluster_s * fs)))]
        cid = np.cumsum(starts) - 1
        n_clusters = int(cid[-1]) + 1
        member = np.zeros((n_clusters, n_voters), dtype=bool)
        member[cid, vid] = True
        centre = _cluster_median(pos, cid, n_clusters)
        first_lead = min(v[0] for v in cand.voters)
        on_first = lead_of == first_lead
        if on_first.any():
            centre_first = _cluster_median(pos[on_first], cid[on_first], n_clusters)
            has_first = np.bincount(cid[on_first], minlength=n_clusters) > 0
            centre = np.where(has_first, centre_first, centre)

        eps = 1e-9
        refractory = int(round(self.refractory_s * fs))
        agreement = member.mean(axis=1)
        majority = agreement >= self.min_agreement - eps
        amp = self._amplitude_ratio(cand, centre, majority, fs)
        accepted = _greedy_refractory(centre, agreement, amp, np.flatnonzero(majority & (amp >= self.min_amplitude)), refractory)
        if self.weighting_s > 0 and len(accepted):
            weight = self._voter_quality(cand, centre, centre[accepted], fs)
            total = weight.sum(axis=1)
            weighted = np.where(total > eps, (member * weight).sum(axis=1) / np.maximum(total, eps), agreement)
            agreement = weighted
            majority = agreement >= self.min_agreement - eps
            accepted = _greedy_refractory(centre, agreement, amp, np.flatnonzero(majority & (amp >= self.min_amplitude)), refractory)
        accepted = self._searchback(accepted, centre, agreement, amp, refractory)
        if self.sqi_window_s > 0 and len(accepted):
            sqi = self._regional_agreement(cand, centre[accepted], fs)
            keep = (sqi >= self.sqi_min) | (member[accepted].mean(axis=1) >= self.sqi_keep_agreement - eps)
            accepted = accepted[keep]

        samples = centre[accepted] - cand.pad
        # a peak on the block's first/last samples is the mirror image made by the reflect padding
        # (or a beat cut by the edge): not reported
        inside = (samples >= 2) & (samples < cand.n - 2)
        samples, accepted = samples[inside], accepted[inside]
        confidence = np.clip(agreement[accepted] * np.minimum(1.0, amp[accepted] / 0.5), 0.0, 1.0)
        order = np.argsort(samples, kind="stable")
        return samples[order].astype(np.int64), confidence[order].astype(np.float64)

    def _amplitude_ratio(self, cand: _Candidates, centre: np.ndarray, majority: np.ndarray, fs: float) -> np.ndarray:
        """Per cluster: max over leads of (peak |cleaned| near it / the lead's median over majority clusters)."""
        half = max(1, int(round(self.align_s * fs)))
        ratio = np.zeros(len(centre))
        for clean in cand.cleaned:
            if not clean.any():
                continue
            idx = np.clip(centre[:, None] + np.arange(-half, half + 1), 0, len(clean) - 1)
            peak = np.abs(clean[idx]).max(axis=1)
            ref = np.median(peak[majority]) if majority.any() else np.median(peak)
            if ref > 0:
                ratio = np.maximum(ratio, peak / ref)
        return ratio

    def _voter_quality(self, cand: _Candidates, centre: np.ndarray, consensus: np.ndarray, fs: float) -> np.ndarray:
        """(clusters, voters) bSQI of each voter around each cluster: matched / (voter's + consensus's - matched)
        beats within ``weighting_s``, matched = voter candidate within ``cluster_s`` of a consensus beat."""
        consensus = np.sort(consensus)
        tol = max(1, int(round(self.cluster_s * fs)))
        w = int(round(self.weighting_s * fs))
        lo_c, hi_c = np.searchsorted(consensus, centre - w), np.searchsorted(consensus, centre + w)
        n_cons = hi_c - lo_c
        quality = np.zeros((len(centre), len(cand.voters)))
        for k, (_, _, cands) in enumerate(cand.voters):
            if len(cands) == 0:
                continue
            cum = np.r_[0, np.cumsum(_near(consensus, cands, tol))]
            lo, hi = np.searchsorted(cands, centre - w), np.searchsorted(cands, centre + w)
            matched = cum[hi] - cum[lo]
            union = (hi - lo) + n_cons - matched
            quality[:, k] = np.where(union > 0, matched / np.maximum(union, 1), 0.0)
        return quality

    def _regional_agreement(self, cand: _Candidates, beats: np.ndarray, fs: float) -> np.ndarray:
        """Per beat: over leads, the largest fraction of the lead's candidates within ``sqi_window_s``
        that coincide (within ``cluster_s``) with an accepted beat (bSQI-like agreement)."""
        order = np.argsort(beats, kind="stable")
        beats = beats[order]
        tol = max(1, int(round(self.cluster_s * fs)))
        w = int(round(self.sqi_window_s * fs))
        best = np.zeros(len(beats))
        for lead in sorted({v[0] for v in cand.voters}):
            parts = [v[2] for v in cand.voters if v[0] == lead]
            allc = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            if len(allc) == 0:
                continue
            cum = np.r_[0, np.cumsum(_near(beats, allc, tol))]
            lo, hi = np.searchsorted(allc, beats - w), np.searchsorted(allc, beats + w)
            best = np.maximum(best, (cum[hi] - cum[lo]) / np.maximum(hi - lo, 1))
        out = np.empty_like(best)
        out[order] = best
        return out

    def _searchback(
        self, accepted: np.ndarray, centre: np.ndarray, agreement: np.ndarray, amp: np.ndarray, refractory: int
    ) -> np.ndarray:
        """Fill RR gaps longer than ``searchback_rr`` x local median RR with the best minority cluster."""
        from scipy.ndimage import median_filter

        accepted = accepted[np.argsort(centre[accepted], kind="stable")]
        pool = np.flatnonzero(
            (agreement < self.min_agreement - 1e-9)
            & (agreement >= self.searchback_min_agreement - 1e-9)
            & (amp >= self.searchback_min_amplitude)
        )
        if len(pool) == 0:
            return accepted
        pool = pool[np.argsort(centre[pool], kind="stable")]
        pool_pos = centre[pool]
        for _ in range(self.searchback_passes):
            if len(accepted) < 4:
                break
            beats = centre[accepted]
            rr = np.diff(beats).astype(np.float64)
            local = median_filter(rr, size=9, mode="nearest")
            added = []
            for g in np.flatnonzero(rr > self.searchback_rr * local):
                lo = bisect.bisect_right(pool_pos, beats[g] + refractory - 1)
                hi = bisect.bisect_left(pool_pos, beats[g + 1] - refractory + 1)
                if hi <= lo:
                    continue
                inside = pool[lo:hi]
                best = inside[np.lexsort((-amp[inside], -agreement[inside]))[0]]
                added.append(best)
            if not added:
                break
            accepted = np.concatenate([accepted, np.array(added, dtype=np.int64)])
            accepted = accepted[np.argsort(centre[accepted], kind="stable")]
        return accepted


# ---------------------------------------------------------------------- helpers
def _as_2d(signal: np.ndarray) -> np.ndarray:
    """(n,) or (n, leads) float array as (n, leads)."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim == 2:
        return x
    raise ValueError(f"signal must be 1-D (n_samples,) or 2-D (n_samples, n_leads), got shape {x.shape}")


def _align(clean: np.ndarray, peaks: np.ndarray, half: int) -> np.ndarray:
    """Move each peak to the largest |clean| within ``half`` samples."""
    peaks = peaks[(peaks >= 0) & (peaks < len(clean))]
    if len(peaks) == 0 or half <= 0:
        return peaks
    idx = np.clip(peaks[:, None] + np.arange(-half, half + 1), 0, len(clean) - 1)
    return idx[np.arange(len(peaks)), np.argmax(np.abs(clean[idx]), axis=1)]


def _cluster_median(pos: np.ndarray, cid: np.ndarray, n_clusters: int) -> np.ndarray:
    """Lower median of the (sorted) positions of each cluster; clusters without entries get -1."""
    counts = np.bincount(cid, minlength=n_clusters)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    out = np.full(n_clusters, -1, dtype=np.int64)
    has = counts > 0
    out[has] = pos[first[has] + (counts[has] - 1) // 2]
    return out


def _greedy_refractory(centre: np.ndarray, score: np.ndarray, amp: np.ndarray, candidates: np.ndarray, refractory: int) -> np.ndarray:
    """Accept clusters highest score first (then largest amplitude), none within ``refractory`` of another."""
    order = candidates[np.lexsort((-amp[candidates], -score[candidates]))]
    taken: list[int] = []
    chosen: list[int] = []
    for i in order:
        p = int(centre[i])
        j = bisect.bisect_left(taken, p)
        if (j < len(taken) and taken[j] - p < refractory) or (j > 0 and p - taken[j - 1] < refractory):
            continue
        taken.insert(j, p)
        chosen.append(int(i))
    return np.array(chosen, dtype=np.int64)


def _near(reference: np.ndarray, points: np.ndarray, tol: int) -> np.ndarray:
    """Per point: whether a value of the sorted, non-empty ``reference`` lies within ``tol`` samples."""
    j = np.searchsorted(reference, points)
    near = np.zeros(len(points), bool)
    for jj in (np.clip(j - 1, 0, len(reference) - 1), np.clip(j, 0, len(reference) - 1)):
        near |= np.abs(reference[jj] - points) <= tol
    return near
