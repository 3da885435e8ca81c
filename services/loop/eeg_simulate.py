"""``cliniloop simulate --task eeg-seizure``: labelling Bonn segments for the seizure detector, replayed.

Pool and test: the Bonn segments are split as the shipped default's training is
(:func:`cliniloop.models.eeg.defaults.is_first_queue_segment`): every third segment of each set is the
held-out test set, the rest is the pool an "annotator" (the set label: S = seizure) reviews one
segment at a time. Cost unit: **seconds of EEG reviewed** (a segment is 23.6 s). The learner is
:class:`cliniloop.models.eeg.seizure.SeizureDetector` trained on the epochs of the labelled segments; the
metric is the segment-level balanced accuracy ((sensitivity + specificity) / 2) on the test set.
A pool segment's uncertainty is the first-round window uncertainty of ``eeg predict``: the largest
binary entropy over its epochs of the seizure probability rescaled so the threshold maps to 0.5.

The loop, summary and plot are :mod:`cliniloop.services.loop.replay`'s; everything is seeded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.services.loop.replay import ReplayConfig, plot_replay, run_replay, summarise

COST_UNIT = "seconds_reviewed"


def _segments(bonn_dir: Path) -> tuple[list[str], np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """Names, is-test flags, per-segment epoch features, labels (1 = S) and durations (s)."""
    from cliniloop.connectors.sources.eeg import BONN_SAMPLING_RATE, open_text_segment
    from cliniloop.models.eeg.defaults import is_first_queue_segment
    from cliniloop.services.loop.eeg_segments import ICTAL_SET, bonn_files
    from cliniloop.services.loop.eeg_epochs import score_recording

    names, test, feats, labels, seconds = [], [], [], [], []
    index: dict[str, int] = {}
    for s, path in bonn_files(bonn_dir):
        k = index.get(s, 0)
        index[s] = k + 1
        source = open_text_segment(path, BONN_SAMPLING_RATE)
        scores = score_recording(source, epoch_s=4.0, step_s=2.0, keep_features=True)
        names.append(f"{s}/{path.name}")
        test.append(is_first_queue_segment(k))
        feats.append(scores.features[:, 0, :])
        labels.append(int(s == ICTAL_SET))
        seconds.append(source.duration_s)
    return names, np.array(test), feats, np.array(labels), np.array(seconds, dtype=float)


def simulate_eeg_seizure(
    bonn_dir: Path, config: ReplayConfig, *, out_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Replay segment labelling (module docstring); writes ``eeg_simulation.json``, ``eeg_learning_curves.png`` and ``eeg_labels.json`` to ``out_dir``."""
    from cliniloop.models.eeg.seizure import SeizureDetector
    from cliniloop.models.sampling.scores import binary_entropy
    from cliniloop.services.loop.eeg import rescaled

    t0 = time.perf_counter()
    names, is_test, feats, labels, seconds = _segments(Path(bonn_dir))
    pool = np.flatnonzero(~is_test)
    test = np.flatnonzero(is_test)
    pool_ids = [names[i] for i in pool]

    def fit(rows: np.ndarray) -> SeizureDetector:
        chosen = pool[rows]
        X = np.concatenate([feats[i] for i in chosen])
        y = np.concatenate([np.full(len(feats[i]), labels[i]) for i in chosen])
        return SeizureDetector(seed=config.seed).fit(None, y, features=X)

    def segment_top(det: SeizureDetector, segs: np.ndarray) -> list[np.ndarray]:
        X = np.concatenate([feats[i] for i in segs])
        p = det.predict_proba(features=X)
        bounds = np.cumsum([0] + [len(feats[i]) for i in segs])
        return [det.smooth(p[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def score(det: SeizureDetector) -> float:
        flagged = np.array([t.max() >= det.threshold_ for t in segment_top(det, test)])
        truth = labels[test] == 1
        return float((flagged[truth].mean() + (~flagged[~truth]).mean()) / 2)

    def pool_scores(det: SeizureDetector) -> tuple[np.ndarray, np.ndarray]:
        u = np.array([float(binary_entropy(rescaled(t, det.threshold_)).max()) for t in segment_top(det, pool)])
        return u, seconds[pool]

    def seed_ok(rows: np.ndarray) -> bool:
        return len(set(labels[pool[rows]].tolist())) == 2

    curves, chosen = run_replay(pool_ids, seconds[pool], fit, score, pool_scores, config, seed_ok=seed_ok, progress=progress)
    full = score(fit(np.arange(len(pool))))
    summary = summarise(curves, full, config.target_fraction, COST_UNIT)
    result = {
        "task": "eeg-seizure", "data": str(bonn_dir), "pool_segments": len(pool), "test_segments": len(test),
        "metric": "segment balanced accuracy", "config": config.__dict__, **summary,
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "eeg_labels.json").write_text(json.dumps({"labels": {n: int(labels[names.index(n)]) for n in pool_ids}, "chosen": chosen}, indent=1) + "\n", encoding="utf-8")
        (out_dir / "eeg_simulation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        result["plot"] = str(plot_replay(result, out_dir / "eeg_learning_curves.png", "EEG seizure (Bonn): segments labelled", "segment balanced accuracy"))
    return result
