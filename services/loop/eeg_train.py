"""Train the seizure detector from Bonn folders, annotated recordings and corrections pulled from Label Studio.

Training data, all turned into single-channel epochs by :func:`cliniloop.services.loop.eeg_epochs.score_recording`:

- Bonn-format folders (``Z O N F S``; every S epoch ictal);
- recordings with reference events (EDF+ annotations in the file itself, or a side file such as a
  CHB-MIT ``.seizures`` or a BIDS ``events.tsv``);
- every annotated EEG window in the store (the newest annotation per window): its epochs inside
  the window are labelled by the annotator's seizure ranges (on the channels chosen, or all).

An epoch is ictal when a seizure covers at least half of it, non-ictal when none touches it, and
left out otherwise. The SVM does not fine-tune, so each version is fitted afresh on all of it
(corrections accumulate in the store). The version goes to the registry
(``eeg-seizure-detector``) and is registered; it is promoted (:func:`load_detector` follows the
pointer) only when its F1 on the ictal channel-epochs of the fixed, recording/segment-grouped dev
split is not worse than the promoted detector's, or than the cold start (no seizure flagged) when
none is promoted (:mod:`cliniloop.services.loop.promotion`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.sources.eeg import open_eeg
from cliniloop.connectors.sources.eeg_events import SEIZURE, EegEvent, read_events
from cliniloop.services.core.schemas import regions_from_json
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.loaders import EEG_DETECTOR as DETECTOR_NAME
from cliniloop.services.loop.loaders import load_eeg_detector as load_detector  # noqa: F401 (the CLI imports it from here)
from cliniloop.services.loop.promotion import DEV_MODULUS, EEG, TrainResult, baseline_label, is_dev_group, register_and_decide
from cliniloop.services.loop.eeg import EEG_TAXONOMY_VERSION, source_of, window_events
from cliniloop.services.loop.eeg_epochs import score_recording
from cliniloop.services.quality.labels import training_labels

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
    """Training rows of every recording with annotated windows, and the number of windows.

    The rows of each recording are one part, in the order of :func:`corrected_recording_keys`.
    """
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


def corrected_recording_keys(store: Store) -> list[str]:
    """The content hash of each recording in :func:`corrected_rows`, in the same order (its dev-split group key)."""
    labels = training_labels(store, "eeg")
    keys = {
        (t.data["record_hash"] + ":" + t.data["montage"]): t.data["record_hash"] for t in store.list_tasks("eeg") if labels.get(t.id) is not None
    }
    return list(keys.values())


def dev_scores(detector: Any | None, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """F1, sensitivity and specificity of ictal channel-epochs on the dev rows at the detector's threshold.

    ``detector=None`` scores the cold start, which flags no seizure (what ``eeg predict`` does without a
    trained detector). ``f1`` is ``None`` when the dev rows hold no ictal epoch (nothing to find).
    """
    y = np.asarray(y).astype(int)
    if detector is None:
        flagged = np.zeros(len(y), dtype=bool)
    else:
        flagged = detector.predict_proba(features=X) >= float(detector.threshold_) if len(y) else np.zeros(0, dtype=bool)
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn = int((~flagged & (y == 1)).sum())
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    return {
        "f1": round(2 * tp / (2 * tp + fp + fn), 5) if pos else None,
        "sensitivity": round(tp / pos, 5) if pos else None,
        "specificity": round(1 - fp / neg, 5) if neg else None,
        "dev_epochs": int(len(y)),
        "dev_ictal_epochs": pos,
    }


def train_eeg_detector(
    store: Store,
    settings: Settings,
    *,
    bonn_dirs: Sequence[Path] = (),
    recordings: Sequence[tuple[Path, Path | None]] = (),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit and register a detector version; promote it when its dev F1 is not worse (module docstring).

    The fixed dev split is grouped by recording (the recording's content hash, for reference and
    corrected recordings alike) and by Bonn segment (``bonn:<set>/<file>``); its rows are never
    trained on. The baseline is the promoted detector on the same rows, or the cold start (no
    seizure flagged) when none is promoted.

    Raises
    ------
    ValueError
        When there is nothing to train on, or no ictal / non-ictal epoch among the training rows.
    """
    from cliniloop.models.eeg.seizure import SeizureDetector
    from cliniloop.services.loop.eeg_segments import segment_features

    parts: list[tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
    for folder in bonn_dirs:
        data = segment_features(folder)
        for k, name in enumerate(data.names):
            rows = data.segment == k
            parts.append((f"bonn:{name}", (data.features[rows], data.labels[rows].astype(int), np.array([f"bonn:{folder}:{k}"] * int(rows.sum())))))
    for edf, events in recordings:
        parts.append((open_eeg(edf).content_hash(), annotated_recording_rows(edf, events)))
    fixes, n_windows = corrected_rows(store)
    parts += list(zip(corrected_recording_keys(store), fixes, strict=True))
    if not parts or not sum(len(p[1][1]) for p in parts):
        raise ValueError("nothing to train on: give --bonn DIR or --edf FILE (with events), or correct EEG windows in Label Studio first")
    dev_keys = {key for key, _ in parts if is_dev_group(key)}

    def stack(keep: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        chosen = [rows for key, rows in parts if (key in dev_keys) == keep and len(rows[1])]
        if not chosen:
            return np.zeros((0, 1)), np.zeros(0, int), np.zeros(0, str)
        return tuple(np.concatenate([c[i] for c in chosen]) for i in range(3))  # type: ignore[return-value]

    X, y, g = stack(False)
    X_dev, y_dev, _ = stack(True)
    if not len(y):
        raise ValueError(f"all {len(dev_keys)} recordings/segments are in the dev split: give more data to train on")
    if len(np.unique(y)) < 2:
        raise ValueError(f"training needs ictal and non-ictal epochs; all {len(y)} training epochs are {'ictal' if y[0] else 'non-ictal'}")
    if progress:
        progress(
            f"training on {len(y)} channel-epochs ({int(y.sum())} ictal) from {len(bonn_dirs)} Bonn folders, {len(recordings)} recordings, "
            f"{n_windows} corrected windows; {len(y_dev)} channel-epochs of {len(dev_keys)} recordings/segments held out as the dev split"
        )
    current = store.alias(DETECTOR_NAME)
    previous = load_detector(store, settings) if current is not None else None
    model = SeizureDetector(seed=seed).fit(None, y, g, features=X)
    new, base = dev_scores(model, X_dev, y_dev), dev_scores(previous, X_dev, y_dev)
    meta = {
        "parent": current,
        "taxonomy_version": EEG_TAXONOMY_VERSION,
        "params": model.params(),
        "threshold": model.threshold_,
        "bonn_dirs": [str(p) for p in bonn_dirs],
        "recordings": [str(p) for p, _ in recordings],
        "corrected_windows": n_windows,
        "dev_modulus": DEV_MODULUS,
    }
    return register_and_decide(
        store, settings, modality=EEG, model_name=DETECTOR_NAME, model=model, meta=meta, metric_name="f1", metric=new["f1"],
        baseline=base["f1"], baseline_label=baseline_label(current, "rule (no seizure flagged)"),
        dev_size=f"{len(dev_keys)} dev recording(s)/segment(s), {new['dev_epochs']} channel-epochs ({new['dev_ictal_epochs']} ictal)",
        label_count=int(len(y)), metrics={**new, "threshold": round(model.threshold_, 4), "train_epochs": int(len(y)), "train_ictal_epochs": int(y.sum())},
        epochs=int(len(y)), corrected_windows=n_windows,
    )  # fmt: skip
