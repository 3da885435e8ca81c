"""``cliniloop eval eeg-seizure``: the seizure detector on Bonn-format segment folders.

A folder holds subfolders ``Z O N F S`` (any case) of single-channel text segments; ``S`` is
ictal, the others are not (Z/O healthy eyes open/closed, N/F interictal). Every epoch of an S
segment is ictal. A segment is called positive when any of its epochs reaches the detector's
threshold (chosen inside the training data only). Reported: segment sensitivity and specificity
(overall and per set), epoch AUROC, the threshold, and milliseconds of processing (reading,
filtering, features, classification) per minute of EEG. The folder reader and the epoch features
are :mod:`cliniloop.services.loop.eeg_segments` (the trainer uses them too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.sources.eeg import BONN_SAMPLING_RATE
from cliniloop.services.loop.eeg_segments import ICTAL_SET, SETS, SegmentSet, bonn_files, segment_features

__all__ = ["ICTAL_SET", "SETS", "SegmentSet", "bonn_files", "evaluate_seizure", "segment_features"]


def _segment_metrics(detector: Any, data: SegmentSet, proba: np.ndarray, threshold: np.ndarray) -> dict[str, Any]:
    """Segment-level figures; ``threshold`` per epoch row (each segment is judged with its fold's threshold)."""
    from sklearn.metrics import roc_auc_score

    y = data.labels.astype(int)
    keys = np.unique(data.segment)
    rows = [data.segment == k for k in keys]
    top = np.array([detector.smooth(proba[m]).max() for m in rows])
    flagged = np.array([t >= threshold[m][0] for t, m in zip(top, rows, strict=True)])
    truth = np.array([int(y[m].max()) for m in rows])
    set_of = np.array([data.set_of[m][0] for m in rows])
    per_set = {}
    for s in SETS:
        m = set_of == s
        if m.any():
            rate = float(flagged[m].mean())
            per_set[s] = {"segments": int(m.sum()), ("sensitivity" if s == ICTAL_SET else "specificity"): round(rate if s == ICTAL_SET else 1 - rate, 4)}
    tp, fn = int((flagged & (truth == 1)).sum()), int((~flagged & (truth == 1)).sum())
    tn, fp = int((~flagged & (truth == 0)).sum()), int((flagged & (truth == 0)).sum())
    return {
        "segments": int(len(keys)), "tp": tp, "fn": fn, "tn": tn, "fp": fp,
        "sensitivity": round(tp / max(1, tp + fn), 4), "specificity": round(tn / max(1, tn + fp), 4),
        "epoch_auroc": round(float(roc_auc_score(y, proba)), 4) if len(np.unique(y)) == 2 else None,
        "segment_auroc": round(float(roc_auc_score(truth, top)), 4) if len(np.unique(truth)) == 2 else None,
        "per_set": per_set,
    }  # fmt: skip


def evaluate_seizure(
    train_dir: Path | None = None,
    test_dir: Path | None = None,
    *,
    cv_dir: Path | None = None,
    folds: int = 5,
    seed: int = 0,
    sampling_rate: float = BONN_SAMPLING_RATE,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train/test or k-fold cross-validation (grouped by segment, stratified by label); one dict of figures."""
    from sklearn.model_selection import StratifiedGroupKFold

    from cliniloop.models.eeg.seizure import SeizureDetector

    if cv_dir is not None:
        data = segment_features(cv_dir, sampling_rate=sampling_rate, progress=progress)
        proba, threshold = np.zeros(len(data.labels)), np.zeros(len(data.labels))
        thresholds, predict_s = [], 0.0
        for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(data.features, data.labels, data.segment):
            detector = SeizureDetector(seed=seed).fit(None, data.labels[train], data.segment[train], features=data.features[train])
            t0 = time.process_time()
            proba[test] = detector.predict_proba(features=data.features[test])
            predict_s += time.process_time() - t0
            threshold[test] = detector.threshold_
            thresholds.append(detector.threshold_)
        metrics = _segment_metrics(detector, data, proba, threshold)
        result = {"mode": "cv", "folds": folds, "folder": str(cv_dir), "thresholds": [round(t, 4) for t in thresholds]}
        minutes = data.minutes
        seconds = data.seconds + predict_s
    else:
        if train_dir is None or test_dir is None:
            raise ValueError("give --train and --test folders, or --cv")
        train = segment_features(train_dir, sampling_rate=sampling_rate, progress=progress)
        detector = SeizureDetector(seed=seed).fit(None, train.labels, train.segment, features=train.features)
        test = segment_features(test_dir, sampling_rate=sampling_rate, progress=progress)
        t0 = time.process_time()
        proba = detector.predict_proba(features=test.features)
        metrics = _segment_metrics(detector, test, proba, np.full(len(proba), detector.threshold_))
        result = {"mode": "train-test", "train": str(train_dir), "test": str(test_dir), "threshold": round(detector.threshold_, 4)}
        minutes = test.minutes
        seconds = test.seconds + time.process_time() - t0
    result |= {
        "segment_rule": "positive when any epoch reaches the threshold",
        "epoch_s": 4.0, "step_s": 2.0, "sampling_rate": sampling_rate,
        **metrics,
        "ms_per_minute_eeg": round(1000 * seconds / max(minutes, 1e-9), 2),
        "eeg_minutes": round(minutes, 2),
    }  # fmt: skip
    return result
