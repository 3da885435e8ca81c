"""Trainable seizure detector: per-channel epoch features -> RBF support-vector machine -> probabilities.

:class:`SeizureDetector` classifies single-channel epochs (default 4 s, 2 s apart) as ictal or not.
A multichannel epoch's probability is the largest over its channels (a focal seizure shows on a few
channels), and the channels above the threshold are the event's channels. The decision threshold is
chosen at ``fit`` from out-of-fold predictions rolled up per group (a segment or a recording: the
group is positive when any of its epochs is), maximising sensitivity + specificity; ``merge_events``
turns flagged epochs into events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.models.eeg.features import FEATURE_NAMES, FEATURE_RATE, epoch_features
from cliniloop.models.params import init_params


@dataclass(frozen=True)
class DetectedEvent:
    """A run of flagged epochs: ``onset_s``/``offset_s`` on the recording's axis, mean probability, channels."""

    onset_s: float
    offset_s: float
    confidence: float
    channels: tuple[str, ...]


class SeizureDetector:
    """Epoch-level seizure classifier (scikit-learn style: ``fit`` computes, returns ``self``).

    Parameters
    ----------
    epoch_s, step_s : float
        Epoch length and hop (s).
    min_duration_s : float
        Events shorter than this are dropped when merging epochs.
    max_gap_s : float
        Flagged runs separated by at most this much are merged into one event.
    smooth_epochs : int
        Epoch probabilities are averaged over this many consecutive epochs (centred, per channel)
        before the threshold: one odd epoch does not raise an alarm.
    C : float
        SVM regularisation (larger = tighter fit).
    seed : int
        Random state (deterministic for a seed).
    """

    def __init__(
        self, epoch_s: float = 4.0, step_s: float = 2.0, min_duration_s: float = 4.0, max_gap_s: float = 4.0,
        smooth_epochs: int = 3, C: float = 3.0, seed: int = 0,
    ) -> None:  # fmt: skip
        self.epoch_s = epoch_s
        self.step_s = step_s
        self.min_duration_s = min_duration_s
        self.max_gap_s = max_gap_s
        self.smooth_epochs = smooth_epochs
        self.C = C
        self.threshold_repeats = 3
        self.seed = seed
        self.sampling_rate = FEATURE_RATE
        self.threshold_: float = 0.5
        self.model_: Any = None
        self.version: str | None = None
        self.train_summary_: dict[str, Any] = {}

    # -- training ---------------------------------------------------------------------------
    def _estimator(self) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        # RBF SVM on standardised features, Platt-calibrated (sigmoid) by internal 5-fold CV
        svm = SVC(C=self.C, gamma="scale", class_weight="balanced", random_state=self.seed)
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=False))

    def fit(self, epochs: np.ndarray, labels: np.ndarray, groups: Sequence[Any] | None = None, features: np.ndarray | None = None) -> SeizureDetector:
        """Train on single-channel epochs.

        Parameters
        ----------
        epochs : ndarray, shape (n, n_samples)
            Band-limited epochs at :data:`~cliniloop.models.eeg.features.FEATURE_RATE` Hz (uV); ignored when
            ``features`` is given.
        labels : ndarray of bool or {0, 1}, shape (n,)
            1 = ictal.
        groups : sequence, shape (n,), optional
            Segment or recording of each epoch. With at least 3 groups of each kind the threshold
            is chosen on out-of-fold group-level scores; otherwise it stays 0.5.
        features : ndarray, shape (n, n_features), optional
            Precomputed :func:`~cliniloop.models.eeg.features.epoch_features`.
        """
        from sklearn.model_selection import StratifiedGroupKFold

        X = epoch_features(epochs, self.sampling_rate) if features is None else np.asarray(features)
        y = np.asarray(labels).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("training needs ictal and non-ictal epochs")
        self.threshold_ = 0.5
        if groups is not None:
            g = np.asarray(groups)
            group_label = {k: int(y[g == k].max()) for k in np.unique(g)}
            counts = np.bincount(list(group_label.values()), minlength=2)
            if counts.min() >= 3:
                folds = min(5, int(counts.min()))
                oof = np.zeros(len(y))
                for repeat in range(self.threshold_repeats):  # averaged over repeated splits: a steadier threshold
                    splits = StratifiedGroupKFold(folds, shuffle=True, random_state=self.seed + repeat).split(X, y, g)
                    for train, test in splits:
                        oof[test] += self._estimator().fit(X[train], y[train]).predict_proba(X[test])[:, 1] / self.threshold_repeats
                keys = list(group_label)
                score = np.array([self.smooth(oof[g == k]).max() for k in keys])
                truth = np.array([group_label[k] for k in keys])
                self.threshold_ = best_threshold(score, truth)
        self.model_ = self._estimator().fit(X, y)
        self.train_summary_ = {"epochs": int(len(y)), "ictal_epochs": int(y.sum()), "threshold": self.threshold_}
        self.version = "eeg-seizure-" + self._digest()[:12]
        return self

    def _digest(self) -> str:
        import pickle

        return hashlib.sha256(pickle.dumps((self.model_, self.threshold_, self.params()))).hexdigest()

    def params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return init_params(self)

    # -- prediction -------------------------------------------------------------------------
    def predict_proba(self, epochs: np.ndarray | None = None, features: np.ndarray | None = None) -> np.ndarray:
        """Ictal probability of each single-channel epoch, shape (n,)."""
        if self.model_ is None:
            raise RuntimeError("the seizure detector is not trained: call fit() or load()")
        X = epoch_features(epochs, self.sampling_rate) if features is None else np.asarray(features)
        if not len(X):
            return np.zeros(0)
        return self.model_.predict_proba(X)[:, 1]

    def smooth(self, proba: np.ndarray) -> np.ndarray:
        """Centred moving average over ``smooth_epochs`` consecutive epochs (axis 0; edges repeat)."""
        from scipy.ndimage import uniform_filter1d

        proba = np.asarray(proba, dtype=float)
        if self.smooth_epochs <= 1 or len(proba) < 2:
            return proba
        return uniform_filter1d(proba, size=min(self.smooth_epochs, len(proba)), axis=0, mode="nearest")

    def merge_events(self, starts: np.ndarray, proba: np.ndarray, channels: Sequence[str]) -> list[DetectedEvent]:
        """Events from per-epoch, per-channel probabilities.

        Parameters
        ----------
        starts : ndarray, shape (n_epochs,)
            Epoch start times (s), increasing.
        proba : ndarray, shape (n_epochs, n_channels)
            Ictal probabilities.
        channels : sequence of str
            Channel names of the columns.

        Each flagged epoch (smoothed probability, max over channels, >= threshold) owns the middle ``step_s`` of its
        span, so onsets are not pulled early by the epoch overlap; runs closer than
        ``max_gap_s`` merge, runs shorter than ``min_duration_s`` are dropped.
        """
        proba = self.smooth(np.asarray(proba, dtype=float).reshape(len(starts), len(channels)))
        top = proba.max(axis=1) if proba.size else np.zeros(len(starts))
        flagged = np.flatnonzero(top >= self.threshold_)
        half = min(self.step_s, self.epoch_s) / 2
        runs: list[list[int]] = []
        for i in flagged:
            centre = starts[i] + self.epoch_s / 2
            if runs and centre - half - (starts[runs[-1][-1]] + self.epoch_s / 2 + half) <= self.max_gap_s + 1e-9:
                runs[-1].append(int(i))
            else:
                runs.append([int(i)])
        events = []
        for run in runs:
            onset = max(0.0, float(starts[run[0]] + self.epoch_s / 2 - half))
            offset = float(starts[run[-1]] + self.epoch_s / 2 + half)
            if run[0] == 0:
                onset = float(starts[0])
            if run[-1] == len(starts) - 1:
                offset = float(starts[-1] + self.epoch_s)
            if offset - onset < self.min_duration_s - 1e-9:
                continue
            on = proba[run] >= self.threshold_
            chans = tuple(c for j, c in enumerate(channels) if on[:, j].any())
            events.append(DetectedEvent(onset, offset, float(top[run].mean()), chans))
        return events

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write ``model.joblib`` and ``detector.json`` (parameters, threshold, version, digest) to ``folder``."""
        import joblib

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model_, folder / "model.joblib")
        digest = hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest()
        meta = {
            "version": self.version, "params": self.params(), "threshold": self.threshold_, "sampling_rate": self.sampling_rate,
            "features": list(FEATURE_NAMES), "model_sha256": digest, "train_summary": self.train_summary_,
        }  # fmt: skip
        (folder / "detector.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SeizureDetector:
        """Read a detector written by :meth:`save`.

        Raises
        ------
        ValueError
            If a file is missing, the features differ, or the model file does not match its digest.
        """
        import joblib

        folder = Path(folder)
        meta_path, model_path = folder / "detector.json", folder / "model.joblib"
        if not meta_path.exists() or not model_path.exists():
            raise ValueError(f"{folder}: not a seizure detector folder (needs detector.json and model.joblib)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("features") != list(FEATURE_NAMES):
            raise ValueError(f"{folder}: the detector was trained on other features")
        if hashlib.sha256(model_path.read_bytes()).hexdigest() != meta.get("model_sha256"):
            raise ValueError(f"{model_path}: does not match the digest in detector.json (modified or corrupt)")
        detector = cls(**meta["params"])
        detector.model_ = joblib.load(model_path)
        detector.threshold_ = float(meta["threshold"])
        detector.version = meta["version"]
        detector.train_summary_ = meta.get("train_summary", {})
        return detector


def best_threshold(score: np.ndarray, truth: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity of ``score >= t``.

    Of the cuts that reach the best sum, the middle of their span is taken (the widest margin on
    both sides) when it is as good, else their median; clipped to [0.05, 0.95].
    """
    values = np.unique(score)
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    pos, neg = truth == 1, truth == 0

    def quality(t: float) -> float:
        return float((score[pos] >= t).mean() + (score[neg] < t).mean())

    j = np.array([quality(t) for t in cuts])
    best_cuts = cuts[j >= j.max() - 1e-12]
    middle = float((best_cuts.min() + best_cuts.max()) / 2)
    chosen = middle if quality(middle) >= j.max() - 1e-12 else float(np.median(best_cuts))
    return float(np.clip(chosen, 0.05, 0.95))
