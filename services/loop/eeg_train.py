"""Train the seizure detector from Bonn folders, annotated recordings and corrections pulled from Label Studio.

Training data, all turned into single-channel epochs by :func:`services.loop.eeg_epochs.score_recording`:

- Bonn-format folders (``Z O N F S``; every S epoch ictal);
- recordings with reference events (EDF+ annotations in the file itself, or a side file such as a
  CHB-MIT ``.seizures`` or a BIDS ``events.tsv``);
- every annotated EEG window in the store (the newest annotation per window): its epochs inside
  the window are labelled by the annotator's seizure ranges (on the channels chosen, or all).

An epoch is ictal when a seizure covers at least half of it, non-ictal when none touches it, and
left out otherwise. The SVM does not fine-tune, so each version is fitted afresh on all of it
(corrections accumulate in the store). The version goes to the registry
(``eeg-seizure-detector``), is registered and promoted; :func:`load_detector` follows the pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from connectors.sources.eeg import open_eeg
from connectors.sources.eeg_events import SEIZURE, EegEvent, read_events
from services.core.schemas import regions_from_json
from services.core.settings import Settings
from services.core.store import Store
from services.loop.loaders import EEG_DETECTOR as DETECTOR_NAME
from services.loop.loaders import load_eeg_detector as load_detector  # noqa: F401 (the CLI imports it from here)
from services.loop.promoted import register_and_promote
from services.loop.eeg import EEG_TAXONOMY_VERSION, source_of, window_events
from services.loop.eeg_epochs import score_recording
from services.quality.labels import training_labels

#: Seconds of a long recording per group when choosing the threshold (a group is positive when any epoch is).
GROUP_S = 60.0


def epoch_labels(
    starts: np.ndarray, epoch_s: float, channels: Sequence[str], events: Sequence[EegEvent],
    windows: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:  # fmt: skip
    """Per epoch and channel: 1 ictal, 0 not, -1 left out.

    Parameters
    ----------
    starts : ndarray, shape (n,)
        Epoch starts (s).
    epoch_s : float
        Epoch length (s).
    channels : sequence of str
        Channel order of the columns.
    events : sequence of EegEvent
        Reference or corrected events; only ``seizure`` ones count.
    windows : sequence of (start_s, stop_s), optional
        Only epochs wholly inside one of these are labelled (the corrected windows).
    """
    labels = np.zeros((len(starts), len(channels)), dtype=np.int8)
    index = {c: j for j, c in enumerate(channels)}
    for i, s in enumerate(starts):
        e0, e1 = float(s), float(s) + epoch_s
        if windows is not None and not any(a - 1e-6 <= e0 and e1 <= b + 1e-6 for a, b in windows):
            labels[i] = -1
            continue
        for event in events:
            if event.label != SEIZURE:
                continue
            overlap = min(e1, event.offset_s) - max(e0, event.onset_s)
            if overlap <= 0:
                continue
            if overlap >= epoch_s / 2:
                chans = [index[c] for c in event.channels if c in index]
                if chans:
                    row = np.where(labels[i] == 1, 1, -1).astype(np.int8)
                    row[chans] = 1
                    labels[i] = row
                else:
                    labels[i] = 1
            elif (labels[i] != 1).all():
                labels[i] = -1
    return labels


def _rows(scores: Any, labels: np.ndarray, group_prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    assert scores.features is not None
    keep = labels >= 0
    epoch_index = np.broadcast_to(np.arange(labels.shape[0])[:, None], labels.shape)
    groups = np.array([f"{group_prefix}:{int(scores.starts[i] // GROUP_S)}" for i in epoch_index[keep]])
    return scores.features[keep], labels[keep].astype(int), groups


def annotated_recording_rows(edf: Path, events_path: Path | None, channels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows of a recording with reference events (EDF+ annotations when ``events_path`` is None)."""
    source = open_eeg(edf)
    events = read_events(events_path or edf, recording=edf.name)
    scores = score_recording(source, channels, keep_features=True)
    return _rows(scores, epoch_labels(scores.starts, scores.epoch_s, scores.channels, events), f"ref:{edf.name}")


def corrected_rows(store: Store) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
    """Training rows of every recording with annotated windows, and the number of windows."""
    by_record: dict[str, list[tuple[Any, list[EegEvent]]]] = {}
    labels = training_labels(store, "eeg")
    for task in store.list_tasks("eeg"):
        label = labels.get(task.id)
        if label is None:
            continue
        key = task.data["record_hash"] + ":" + task.data["montage"]
        by_record.setdefault(key, []).append((task, window_events(task, regions_from_json(label.regions))))
    out, n_windows = [], 0
    for items in by_record.values():
        data = items[0][0].data
        source = source_of(data)
        scores = score_recording(source, data["channels"], keep_features=True)
        windows = [(t.data["start_s"], t.data["stop_s"]) for t, _ in items]
        events = [e for _, evs in items for e in evs]
        labels = epoch_labels(scores.starts, scores.epoch_s, scores.channels, events, windows)
        out.append(_rows(scores, labels, f"fix:{data['record_hash'][:12]}"))
        n_windows += len(items)
    return out, n_windows


def train_eeg_detector(
    store: Store,
    settings: Settings,
    *,
    bonn_dirs: Sequence[Path] = (),
    recordings: Sequence[tuple[Path, Path | None]] = (),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit, register and promote a detector version; returns a summary.

    Raises
    ------
    ValueError
        When there is nothing to train on, or no ictal / non-ictal epoch among it.
    """
    from models.eeg.seizure import SeizureDetector
    from services.loop.eeg_segments import segment_features

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for folder in bonn_dirs:
        data = segment_features(folder)
        parts.append((data.features, data.labels.astype(int), np.array([f"bonn:{folder}:{k}" for k in data.segment])))
    for edf, events in recordings:
        parts.append(annotated_recording_rows(edf, events))
    fixes, n_windows = corrected_rows(store)
    parts += fixes
    if not parts or not sum(len(p[1]) for p in parts):
        raise ValueError("nothing to train on: give --bonn DIR or --edf FILE (with events), or correct EEG windows in Label Studio first")
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    g = np.concatenate([p[2] for p in parts])
    if len(np.unique(y)) < 2:
        raise ValueError(f"training needs ictal and non-ictal epochs; all {len(y)} epochs are {'ictal' if y[0] else 'non-ictal'}")
    if progress:
        progress(f"training on {len(y)} channel-epochs ({int(y.sum())} ictal) from {len(bonn_dirs)} Bonn folders, {len(recordings)} recordings, {n_windows} corrected windows")
    current = store.alias(DETECTOR_NAME)
    model = SeizureDetector(seed=seed).fit(None, y, g, features=X)
    meta = {
        "version": model.version,
        "parent": current,
        "label_count": int(len(y)),
        "taxonomy_version": EEG_TAXONOMY_VERSION,
        "params": model.params(),
        "threshold": model.threshold_,
        "bonn_dirs": [str(p) for p in bonn_dirs],
        "recordings": [str(p) for p, _ in recordings],
        "corrected_windows": n_windows,
    }
    register_and_promote(
        store, settings.resolved_models_dir, DETECTOR_NAME, model, meta, label_count=int(len(y)), reason="eeg train",
        epochs=int(len(y)), corrected_windows=n_windows,
    )  # fmt: skip
    return {"version": model.version, "epochs": int(len(y)), "ictal_epochs": int(y.sum()), "corrected_windows": n_windows, "threshold": round(model.threshold_, 4)}
