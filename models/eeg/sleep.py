"""Sleep stages with YASA's pretrained classifiers (they ship inside the ``yasa`` wheel; LightGBM).

:func:`staging_channels` picks a central EEG derivation (C4-M1, C3-M2, ... Fpz-Cz as in
Sleep-EDF) and, when present, an EOG and an EMG channel; :func:`stage_sleep` returns one row per
30-s epoch with the stage (W, N1, N2, N3, REM) and the five probabilities. Nothing is downloaded:
``yasa.SleepStaging.predict`` loads the classifier from the installed package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
EPOCH_S = 30.0
#: EEG derivations YASA's classifiers suit, best first (matched without case and punctuation).
EEG_PREFERENCE: tuple[str, ...] = ("C4M1", "C3M2", "C4A1", "C3A2", "C4", "C3", "FPZCZ", "CZ", "PZOZ", "CZM1", "CZA1")
#: Shortest recording YASA stages (s).
MIN_DURATION_S = 5 * 60.0


def _key(name: str) -> str:
    import re

    key = re.sub(r"[^a-z0-9]", "", name.lower()).upper()
    return key[3:] if key.startswith("EEG") else key


@dataclass(frozen=True)
class StagingChannels:
    """Channels used for staging (EOG and EMG optional)."""

    eeg: str
    eog: str | None = None
    emg: str | None = None


def staging_channels(names: Sequence[str]) -> StagingChannels | None:
    """The EEG (and EOG, EMG) channels to stage with, or ``None`` when no suitable EEG channel exists."""
    by_key = {_key(n): n for n in names}
    eeg = next((by_key[k] for k in EEG_PREFERENCE if k in by_key), None)
    if eeg is None:
        return None
    eog = next((n for n in names if "EOG" in n.upper() or _key(n) in {"LOC", "ROC", "E1", "E2", "E1M2", "E2M1"}), None)
    emg = next((n for n in names if "EMG" in n.upper() or "CHIN" in n.upper()), None)
    return StagingChannels(eeg, eog, emg)


@dataclass
class SleepStages:
    """One row per 30-s epoch: ``starts`` (s), ``stages`` and ``proba`` (n, 5) in :data:`STAGES` order."""

    starts: np.ndarray
    stages: list[str]
    proba: np.ndarray
    channels: StagingChannels
    version: str


def stage_sleep(signals: dict[str, np.ndarray], sampling_rate: float, channels: StagingChannels) -> SleepStages:
    """Stage a recording with YASA.

    Parameters
    ----------
    signals : dict of str -> ndarray
        Whole-night signals in uV at ``sampling_rate`` for the channels in ``channels``.
    sampling_rate : float
        Hz (YASA resamples to 100 Hz itself).
    channels : StagingChannels
        From :func:`staging_channels`.

    Raises
    ------
    ValueError
        For a recording shorter than :data:`MIN_DURATION_S`.
    """
    import logging

    import mne
    import yasa

    names = [c for c in (channels.eeg, channels.eog, channels.emg) if c is not None]
    n = min(len(signals[c]) for c in names)
    if n / sampling_rate < MIN_DURATION_S:
        raise ValueError(f"sleep staging needs at least {MIN_DURATION_S / 60:.0f} min of recording, got {n / sampling_rate / 60:.1f} min")
    types = ["eeg"] + (["eog"] if channels.eog else []) + (["emg"] if channels.emg else [])
    info = mne.create_info(names, sampling_rate, types, verbose="ERROR")
    raw = mne.io.RawArray(np.stack([signals[c][:n] * 1e-6 for c in names]), info, verbose="ERROR")
    import warnings

    logging.getLogger("yasa").setLevel(logging.WARNING)
    staging = yasa.SleepStaging(raw, eeg_name=channels.eeg, eog_name=channels.eog, emg_name=channels.emg)
    with warnings.catch_warnings():
        # the shipped classifiers were pickled with an older scikit-learn LabelEncoder (harmless)
        warnings.simplefilter("ignore")
        hypnogram = staging.predict()
    names_of = {"WAKE": "W", "W": "W", "R": "REM", "REM": "REM", "N1": "N1", "N2": "N2", "N3": "N3"}
    proba = hypnogram.proba.rename(columns=lambda c: names_of.get(str(c).upper(), str(c)))
    matrix = proba[list(STAGES)].to_numpy(dtype=float)
    stages = [STAGES[i] for i in matrix.argmax(axis=1)]
    starts = np.arange(len(stages)) * EPOCH_S
    return SleepStages(starts, stages, matrix, channels, f"yasa-{yasa.__version__}")
