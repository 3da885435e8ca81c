"""Bonn-format segment folders as epoch features: what the seizure detector trains and is scored on.

A folder holds subfolders ``Z O N F S`` (any case) of single-channel text segments; ``S`` is
ictal, the others are not (Z/O healthy eyes open/closed, N/F interictal). Every epoch of an S
segment is ictal. Used by the trainer (:mod:`cliniloop.services.loop.eeg_train`) and the evaluation
(:mod:`cliniloop.services.evaluation.eeg_seizure`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cliniloop.connectors.sources.eeg import BONN_SAMPLING_RATE, EegFileError, open_text_segment
from cliniloop.services.loop.eeg_epochs import score_recording

SETS: tuple[str, ...] = ("Z", "O", "N", "F", "S")
ICTAL_SET = "S"


@dataclass
class SegmentSet:
    """Epoch features of Bonn segments: one row per epoch, with its segment and set."""

    features: np.ndarray
    labels: np.ndarray
    segment: np.ndarray
    set_of: np.ndarray
    names: list[str]
    minutes: float
    seconds: float


def bonn_files(folder: Path) -> list[tuple[str, Path]]:
    """``(set, file)`` of every segment under ``folder/{Z,O,N,F,S}``.

    Raises
    ------
    ValueError
        When the folder or one of the five set folders is missing or empty.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder (expected subfolders {' '.join(SETS)})")
    subdirs = {p.name.upper(): p for p in folder.iterdir() if p.is_dir()}
    missing = [s for s in SETS if s not in subdirs]
    if missing:
        raise ValueError(f"{folder}: missing set folder(s) {', '.join(missing)} (expected {' '.join(SETS)})")
    out = []
    for s in SETS:
        files = sorted(p for p in subdirs[s].iterdir() if p.is_file() and p.suffix.lower() in {".txt", ".asc"})
        if not files:
            raise ValueError(f"{subdirs[s]}: no .txt segments")
        out += [(s, p) for p in files]
    return out


def segment_features(
    folder: Path, *, sampling_rate: float = BONN_SAMPLING_RATE, epoch_s: float = 4.0, step_s: float = 2.0,
    progress: Callable[[int], None] | None = None,
) -> SegmentSet:  # fmt: skip
    """Features of every epoch of every segment in a Bonn-format folder."""
    feats, labels, segment, sets, names = [], [], [], [], []
    minutes = 0.0
    t0 = time.process_time()
    for k, (s, path) in enumerate(bonn_files(folder)):
        try:
            source = open_text_segment(path, sampling_rate)
        except EegFileError as err:
            raise ValueError(str(err)) from None
        scores = score_recording(source, epoch_s=epoch_s, step_s=step_s, keep_features=True)
        assert scores.features is not None
        f = scores.features[:, 0, :]
        feats.append(f)
        labels.append(np.full(len(f), s == ICTAL_SET))
        segment.append(np.full(len(f), k))
        sets.append(np.full(len(f), s))
        names.append(f"{s}/{path.name}")
        minutes += source.duration_s / 60
        if progress:
            progress(1)
    return SegmentSet(
        np.concatenate(feats), np.concatenate(labels), np.concatenate(segment), np.concatenate(sets), names, minutes,
        time.process_time() - t0,
    )  # fmt: skip
