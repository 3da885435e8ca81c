"""``cliniloop eval eeg-events``: detected seizures against reference events of an annotated recording.

A reference seizure is detected when a predicted event overlaps it (optionally widened by
``tolerance_s`` on each side); its onset latency is the first overlapping prediction's onset minus
the reference onset (negative = early). A predicted event that overlaps no reference seizure is a
false alarm. Reported: event sensitivity, false alarms per hour, latencies (median, mean, each),
epoch-level AUROC when both classes occur, and ms of processing per minute of EEG.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.sources.eeg import open_eeg
from cliniloop.connectors.sources.eeg_events import SEIZURE, EegEvent, read_events


def match_events(reference: Sequence[EegEvent], predicted: Sequence[EegEvent], duration_s: float, tolerance_s: float = 0.0) -> dict[str, Any]:
    """Event-level sensitivity, false alarms per hour and onset latency (s)."""
    detected, latencies = 0, []
    for ref in reference:
        hits = [p for p in predicted if p.onset_s < ref.offset_s + tolerance_s and p.offset_s > ref.onset_s - tolerance_s]
        if hits:
            detected += 1
            latencies.append(round(min(hits, key=lambda p: p.onset_s).onset_s - ref.onset_s, 3))
    false_alarms = sum(
        1 for p in predicted if not any(p.onset_s < r.offset_s + tolerance_s and p.offset_s > r.onset_s - tolerance_s for r in reference)
    )
    hours = duration_s / 3600
    return {
        "reference_events": len(reference), "predicted_events": len(predicted), "detected": detected,
        "sensitivity": round(detected / len(reference), 4) if reference else None,
        "false_alarms": false_alarms, "false_alarms_per_hour": round(false_alarms / hours, 3) if hours > 0 else None,
        "onset_latency_s": {"median": float(np.median(latencies)) if latencies else None,
                            "mean": round(float(np.mean(latencies)), 3) if latencies else None, "each": latencies},
    }  # fmt: skip


def evaluate_events(
    edf: Path, events_path: Path, detector: Any, *, channels: Sequence[str] | None = None, tolerance_s: float = 0.0, block_s: float = 300.0
) -> dict[str, Any]:
    """Run ``detector`` over ``edf`` and compare with the seizures in ``events_path``."""
    from sklearn.metrics import roc_auc_score

    from cliniloop.services.loop.eeg import predict_recording
    from cliniloop.services.loop.eeg_train import epoch_labels

    source = open_eeg(edf)
    reference = [e for e in read_events(events_path, recording=Path(edf).name) if e.label == SEIZURE]
    t0 = time.process_time()
    prediction = predict_recording(source, source.pick(channels), detector, sleep=False, block_s=block_s)
    seconds = time.process_time() - t0
    result: dict[str, Any] = {"recording": str(edf), "events": str(events_path), "duration_s": round(source.duration_s, 2),
                              "channels": len(source.pick(channels)), "detector": detector.version, "threshold": round(detector.threshold_, 4)}  # fmt: skip
    result |= match_events(reference, prediction.seizures, source.duration_s, tolerance_s)
    labels = epoch_labels(prediction.epoch_starts, prediction.epoch_s, ["all"], reference)[:, 0]
    keep = labels >= 0
    if prediction.seizure_proba is not None and len(np.unique(labels[keep])) == 2:
        result["epoch_auroc"] = round(float(roc_auc_score(labels[keep], prediction.seizure_proba[keep])), 4)
    result["predicted"] = [{"onset_s": round(e.onset_s, 2), "offset_s": round(e.offset_s, 2), "confidence": e.confidence} for e in prediction.seizures[:50]]
    result["ms_per_minute_eeg"] = round(1000 * seconds / max(source.duration_s / 60, 1e-9), 2)
    return result
