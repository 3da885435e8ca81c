"""Recordings -> overlapping epochs -> features, seizure probabilities and artifact flags, block by block.

:func:`score_recording` reads a recording in blocks of ``block_s`` seconds (plus a few seconds of
padding for the filters), so memory stays bounded by the block, not the recording: an 8-hour,
19-channel EDF is scored with the same peak memory as a 10-minute one. Training, evaluation and
prediction all go through :func:`recording_features`, so a model sees the same features everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from cliniloop.connectors.sources.eeg import EegSource, resample
from cliniloop.models.eeg.artifacts import ARTIFACT_KINDS, artifact_flags
from cliniloop.models.eeg.features import FEATURE_NAMES, FEATURE_RATE, epoch_features, epoch_starts, prepare_signal

PAD_S = 2.0


@dataclass
class EpochScores:
    """Per-epoch results of one recording.

    Attributes
    ----------
    starts : ndarray, shape (n_epochs,)
        Epoch start times (s).
    epoch_s : float
        Epoch length (s).
    channels : list of str
        Column order of the arrays.
    proba : ndarray, shape (n_epochs, n_channels) or None
        Ictal probability (None without a detector).
    artifacts : dict of str -> ndarray of bool, shape (n_epochs, n_channels)
        One array per kind of :data:`~cliniloop.models.eeg.artifacts.ARTIFACT_KINDS`.
    features : ndarray, shape (n_epochs, n_channels, n_features) or None
        Kept only when asked for (training).
    """

    starts: np.ndarray
    epoch_s: float
    channels: list[str]
    proba: np.ndarray | None = None
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    features: np.ndarray | None = None


def iter_blocks(
    source: EegSource, channels: Sequence[str], starts: np.ndarray, epoch_s: float, block_s: float
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Yield ``(epoch slice, raw epochs, band-limited epochs)`` per block.

    Raw epochs are ``(n, n_channels, epoch_s * rate)`` at the recording's rate; band-limited ones are
    at :data:`~cliniloop.models.eeg.features.FEATURE_RATE`.
    """
    fs = source.sampling_rate
    n_raw, n_feat = int(round(epoch_s * fs)), int(round(epoch_s * FEATURE_RATE))
    per_block = max(1, int(block_s // max(1e-9, (starts[1] - starts[0]) if len(starts) > 1 else epoch_s)))
    for i0 in range(0, len(starts), per_block):
        i1 = min(len(starts), i0 + per_block)
        a = max(0.0, float(starts[i0]) - PAD_S)
        b = min(source.duration_s, float(starts[i1 - 1]) + epoch_s + PAD_S)
        raw = source.read(a, b, channels, rate=fs)
        n_low = int(round((b - a) * FEATURE_RATE))
        low = np.stack([resample(raw[:, j], fs, FEATURE_RATE, n_low) for j in range(raw.shape[1])], axis=1)
        low = prepare_signal(low, FEATURE_RATE)
        raw_epochs = np.empty((i1 - i0, raw.shape[1], n_raw))
        feat_epochs = np.empty((i1 - i0, raw.shape[1], n_feat))
        for k, s in enumerate(starts[i0:i1]):
            r0 = min(int(round((s - a) * fs)), raw.shape[0] - n_raw)
            f0 = min(int(round((s - a) * FEATURE_RATE)), low.shape[0] - n_feat)
            raw_epochs[k] = raw[r0 : r0 + n_raw].T
            feat_epochs[k] = low[f0 : f0 + n_feat].T
        yield slice(i0, i1), raw_epochs, feat_epochs


def score_recording(
    source: EegSource,
    channels: Sequence[str] | None = None,
    detector: object | None = None,
    *,
    epoch_s: float = 4.0,
    step_s: float = 2.0,
    block_s: float = 300.0,
    keep_features: bool = False,
    progress: Callable[[float], None] | None = None,
) -> EpochScores:
    """Seizure probabilities (when ``detector`` is given) and artifact flags of every epoch.

    Parameters
    ----------
    source : EegSource
        A checked recording.
    channels : sequence of str, optional
        Channels to score (default: every EEG channel).
    detector : SeizureDetector, optional
        Its ``epoch_s``/``step_s`` override the arguments.
    epoch_s, step_s, block_s : float
        Epoch length, hop and block read at once (s).
    keep_features : bool
        Keep the feature array (for training).
    progress : callable, optional
        Called with the seconds of recording done after each block.
    """
    if detector is not None:
        epoch_s, step_s = detector.epoch_s, detector.step_s  # type: ignore[attr-defined]
    names = source.pick(channels)
    starts = epoch_starts(source.duration_s, epoch_s, step_s)
    n, c = len(starts), len(names)
    scores = EpochScores(starts, epoch_s, names)
    scores.artifacts = {k: np.zeros((n, c), dtype=bool) for k in ARTIFACT_KINDS}
    if detector is not None:
        scores.proba = np.zeros((n, c))
    if keep_features:
        scores.features = np.zeros((n, c, len(FEATURE_NAMES)))
    ranges = [source.channel(name).range_uv for name in names]
    if n == 0:
        return scores
    for part, raw_epochs, feat_epochs in iter_blocks(source, names, starts, epoch_s, block_s):
        flags = artifact_flags(raw_epochs, source.sampling_rate, ranges)
        for kind in ARTIFACT_KINDS:
            scores.artifacts[kind][part] = flags[kind]
        if detector is not None or keep_features:
            m = feat_epochs.shape[0]
            feats = epoch_features(feat_epochs.reshape(m * c, -1), FEATURE_RATE)
            if keep_features:
                assert scores.features is not None
                scores.features[part] = feats.reshape(m, c, -1)
            if detector is not None:
                assert scores.proba is not None
                scores.proba[part] = detector.predict_proba(features=feats).reshape(m, c)  # type: ignore[attr-defined]
        if progress:
            progress(float(min(source.duration_s, starts[part.stop - 1] + epoch_s)))
    return scores
