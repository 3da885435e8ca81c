"""Inter-patient AAMI beat classifier: a record-bagged LightGBM ensemble on per-record-normalised features.

Why this model (measured by record-grouped cross-validation on MIT-BIH DS1, see the README)
---------------------------------------------------------------------------------------
Beats of a patient the model has never seen differ mostly in *absolute* shape; what carries over
between patients is how a beat differs from its own record's rhythm and dominant beat. The
features (:mod:`cliniloop.models.ecg.beat_table`) are therefore relative to the record: RR intervals
normalised by the local and the record's rhythm, correlation and RMS difference of each lead's
P, QRS and T regions against the record's template, QRS width against the template's, and the
correlation with the neighbouring beats. Raw decimated morphology and wavelet coefficients are
available as columns but are not used by default (``feature_groups``): they let the trees learn
patient-specific shapes and lowered grouped-CV macro-F1. Two record-relative groups are used
by default: ``ectopic`` (likeness to the record's own dominant and *ectopic* templates, found
without labels, and where a beat sits between them) and ``record_z`` (shape summaries as robust
z-scores within the record, so a noisy record's spread does not read as ectopy); in single-model
grouped-CV runs they moved macro-F1 from 0.58-0.59 to 0.595-0.61, mostly through V PPV (0.82 ->
0.90). Most of the gain of the default over the earlier model comes from the AF gate (step 5).

Training (:meth:`BoostedBeatClassifier.fit`)
--------------------------------------------
1. Records are dealt into ``n_members`` groups (stratified by their count of S, V and F beats, in
   a snake order, so every group gets some ectopic beats). Member ``j`` is a LightGBM
   multi-class model trained on the records *outside* group ``j``; its predictions for the
   records of group ``j`` are out-of-fold: made by a model that never saw those patients.
2. Class imbalance: sample weights ``min(n_max / n_c, max_class_weight)``; at most
   ``max_n_per_record`` N beats per record are kept (seeded draw), which also bounds the time.
3. Calibration on the out-of-fold probabilities (vector scaling, Guo et al. 2017):
   ``p = softmax(log(p_member) / T + b)`` with one temperature ``T`` and one bias per class
   (``b_N = 0``), fitted by minimising the negative log-likelihood.
4. Per-class decision weights (the "thresholds") on the calibrated out-of-fold probabilities:
   the predicted class is ``argmax_c w_c p_c``. The weights start at ``exp(-b_c)``, which
   reproduces the class-weighted members' own arg-max, and ``w_S, w_V, w_F`` then move by at
   most a factor 2 (coordinate ascent on a log grid) to maximise macro-F1 over N, S, V, F of
   the out-of-fold beats. So the thresholds are set on held-out *records*, never on beats of
   the patients they were trained on. (Unbounded weights overfitted: grouped-CV macro-F1 0.521
   against 0.588 without tuning.)

5. Atrial-fibrillation gate (``af_gate``): in an irregular rhythm every beat looks premature,
   and most false S on DS1 are normal beats in atrial fibrillation (records 201 and 203). On
   the same out-of-fold probabilities, a limit on the running RR spread (``rr:rr_spread``) is
   chosen from :data:`GATE_SPREADS`; above it the S probability moves to N (:func:`apply_gate`).
   No limit is set when none improves out-of-fold macro-F1 by more than 0.001.
6. Fusion rule (``fusion_rule``, no training): a fusion beat (F) is by definition a mix of the
   record's normal and ventricular activation. Beats called N that are not premature
   (``|rr:log_pre_local| < ln 1.1``) and whose lead-0 QRS width ratio *and* QRS correlation with
   the template both lie between 20 % and 80 % of the way from the record's median called-N to
   its median called-V value (records with at least :data:`FUSION_MIN_V` beats called V) are
   called F (:func:`fusion_mask`, :func:`apply_fusion`). Record-grouped CV on DS1 found almost no F
   without it: 373 of DS1's 415 F beats are in record 208, so a model that has not seen 208 has
   seen ~40 F beats of other shapes. The 20-80 % band and the timing limit were fixed before they
   were scored, not tuned; the gain is measured on 208 alone (README).
7. Supraventricular runs (``run_rule``, no training): inside a run of supraventricular beats only
   the first beat is premature against its neighbours; the rest keep the fast rate and were
   called N (records 207 and 209 on DS1). In a fast run (:func:`~cliniloop.models.ecg.beat_table.fast_runs`:
   consecutive beats with pre-RR below 0.85 of the record's median RR) with a beat called S,
   every beat after the run's first that is called N and whose RR changes by less than ``ln 1.1``
   from the previous one (the same regular fast rhythm) moves its N probability to S
   (:func:`run_mask`). It acts before the fusion rule, on beats the AF gate did not gate.

Prediction: the members' calibrated probabilities (AF gate, run rule, fusion rule applied) are averaged (:meth:`predict_proba`, rows sum
to 1); :meth:`predict_proba_samples` returns each member's ``(T, n, 5)`` for BALD; the class is
``argmax(thresholds_ * p)`` (:meth:`predict`, :meth:`decide`). With fewer than two records no
held-out record exists: one model, ``T = 1``, ``b = 0``, all weights 1.

Patient adaptation uses :meth:`embedding` (standardised shape and RR columns) with
:class:`cliniloop.models.ecg.adapt.PatientAdapter`.

Files (:meth:`save`): ``beatgbm.json`` (parameters, calibration, thresholds, standardisation,
feature names, training summary) and one LightGBM text model per member ``beatgbm_<j>.txt``.
Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.models.ecg import beat_features as bf
from cliniloop.taxonomies.ecg import AAMI_CLASSES

META_FILE = "beatgbm.json"
FORMAT_VERSION = 1
#: Classes whose F1 is averaged when tuning the decision weights.
TUNED_CLASSES = ("N", "S", "V", "F")
#: Column-name prefixes of each feature group of :mod:`cliniloop.models.ecg.beat_table`.
FEATURE_GROUPS = {
    "rr": ("rr:",),
    "record": ("rec:",),
    "shape": ("s0:", "s1:", "s2:", "s3:"),
    "neighbours": ("n0:", "n1:", "n2:", "n3:"),
    "morphology": ("m0:", "m1:", "m2:", "m3:"),
    "difference": ("d0:", "d1:", "d2:", "d3:"),
    "wavelet": ("w0:", "w1:", "w2:", "w3:"),
    "ectopic": ("e0:", "e1:", "e2:", "e3:"),
    "record_z": ("z0:", "z1:", "z2:", "z3:"),
}
#: Candidate ``rr_spread`` limits of the atrial-fibrillation gate (:meth:`BoostedBeatClassifier.fit`); inf = no gate.
GATE_SPREADS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, math.inf)
#: Fusion rule (:func:`fusion_mask`): band of the way from the record's called-N to its called-V median.
FUSION_BETWEEN = (0.2, 0.8)
#: Fewest beats called V in a record (or chunk) for the fusion rule to act.
FUSION_MIN_V = 10
#: Largest ``|rr:log_pre_local|`` of a fusion beat (not premature: it coincides with the sinus beat).
FUSION_MAX_PRE = math.log(1.1)
#: Largest ``|ln(pre / previous pre)|`` of a beat continuing a supraventricular run (:func:`run_mask`).
RUN_MAX_STEP = math.log(1.1)
#: Lead-0 columns compared between the record's N and V beats by the fusion rule.
FUSION_COLUMNS = ("s0:qrs_width_ratio", "s0:corr_qrs")
#: Groups in the adaptation embedding.
EMBED_GROUPS = ("rr", "shape", "neighbours")

Progress = Callable[[int, int], None]


def _label_indices(labels: np.ndarray | None, n: int, name: str) -> np.ndarray:
    from cliniloop.models.ecg.classify import _label_indices as idx

    return idx(labels, n, name)


def macro_f1(y: np.ndarray, pred: np.ndarray, classes: Sequence[int] = (0, 1, 2, 3)) -> float:
    """Mean F1 over class indices ``classes`` (a class never present nor predicted scores 0)."""
    f1 = []
    for c in classes:
        tp = float(((y == c) & (pred == c)).sum())
        denom = float((y == c).sum() + (pred == c).sum())
        f1.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1))


def tune_decision_weights(
    proba: np.ndarray, y: np.ndarray, start: np.ndarray | None = None, span: float = 2.0, passes: int = 2
) -> np.ndarray:
    """Per-class multipliers ``w`` maximising macro-F1 (N, S, V, F) of ``argmax(w * p)``.

    ``w_N`` and ``w_Q`` stay at their start; ``w_S, w_V, w_F`` move within ``[start / span,
    start * span]`` (a log grid of 9 steps), one class at a time. The bounded range keeps the
    few held-out records that carry most S and F beats from pulling the weights far.

    Parameters
    ----------
    proba : np.ndarray
        ``(n, 5)`` calibrated probabilities of held-out beats.
    y : np.ndarray
        ``(n,)`` reference class indices.
    start : np.ndarray or None
        ``(5,)`` starting weights (default all 1).
    span : float
        Largest factor a weight may move from its start.
    passes : int
        Coordinate-ascent passes over S, V, F.

    Returns
    -------
    np.ndarray
        ``(5,)`` weights.
    """
    w0 = np.ones(len(AAMI_CLASSES)) if start is None else np.asarray(start, dtype=np.float64).copy()
    w = w0.copy()
    grid = np.exp(np.linspace(-math.log(span), math.log(span), 9))
    tuned = [AAMI_CLASSES.index(c) for c in TUNED_CLASSES]
    best = macro_f1(y, (proba * w).argmax(axis=1), tuned)
    for _ in range(passes):
        for c in tuned[1:]:
            if not (y == c).any():
                continue
            for g in grid:
                trial = w.copy()
                trial[c] = w0[c] * g
                score = macro_f1(y, (proba * trial).argmax(axis=1), tuned)
                if score > best + 1e-9:
                    best, w = score, trial
    return w


def fit_vector_scaling(proba: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Temperature ``T`` and class biases ``b`` (``b_0 = 0``) minimising the NLL of ``softmax(log p / T + b)``."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    logp = np.log(np.clip(proba, 1e-9, 1.0))
    k = proba.shape[1]
    present = np.bincount(y, minlength=k) > 0

    def nll(theta: np.ndarray) -> float:
        b = np.concatenate([[0.0], theta[1:]])
        b = np.where(present, b, 0.0)
        lp = log_softmax(logp / math.exp(theta[0]) + b, axis=1)
        return float(-lp[np.arange(len(y)), y].mean() + 1e-3 * (b**2).sum())

    res = minimize(nll, np.zeros(k), method="L-BFGS-B", bounds=[(math.log(0.05), math.log(20.0))] + [(-5.0, 5.0)] * (k - 1))
    b = np.where(present, np.concatenate([[0.0], res.x[1:]]), 0.0)
    return float(math.exp(res.x[0])), b


def apply_gate(proba: np.ndarray, spread: np.ndarray, limit: float) -> np.ndarray:
    """Move the S probability of beats in an irregular rhythm (``spread > limit``) to N.

    In atrial fibrillation every RR interval is "premature" against its neighbours, and MIT-BIH
    labels the conducted beats N: a beat whose running RR spread (``rr:rr_spread``, 1.4826 *
    running MAD of ln RR over 33 beats) exceeds ``limit`` cannot be called S.

    Parameters
    ----------
    proba : np.ndarray
        ``(..., n, 5)`` probabilities (columns :data:`AAMI_CLASSES`).
    spread : np.ndarray
        ``(n,)`` ``rr_spread`` of the beats (dimensionless).
    limit : float
        Spread above which the gate acts.

    Returns
    -------
    np.ndarray
        A gated copy (rows still sum to 1).
    """
    return move_mass(proba, np.asarray(spread) > limit, "S", "N")


def choose_gate(proba: np.ndarray, y: np.ndarray, spread: np.ndarray, weights: np.ndarray) -> float:
    """The :data:`GATE_SPREADS` limit that maximises out-of-fold macro-F1 (N, S, V, F) of ``argmax(weights * p)``.

    ``proba``, ``y`` and ``spread`` are the calibrated probabilities, reference class indices and
    ``rr_spread`` of held-out records' beats. A limit is taken only when it beats no gate
    (``inf``) by more than 0.001; among equal scores the largest (least intrusive) limit wins.
    """
    tuned = [AAMI_CLASSES.index(c) for c in TUNED_CLASSES]
    best_limit = math.inf
    best = macro_f1(y, (proba * weights).argmax(axis=1), tuned) + 1e-3
    for limit in sorted((g for g in GATE_SPREADS if math.isfinite(g)), reverse=True):
        score = macro_f1(y, (apply_gate(proba, spread, limit) * weights).argmax(axis=1), tuned)
        if score > best + 1e-9:
            best, best_limit = score, limit
    return best_limit


def fusion_mask(values: np.ndarray, log_pre_local: np.ndarray, decided: np.ndarray) -> np.ndarray:
    """Beats of one record (or chunk) that sit between its N and V beats: fusion candidates.

    For each column of ``values`` a beat's position ``u = (x - median_N) / (median_V - median_N)``
    is measured against the medians of the beats *decided* N and V (no labels). A beat is a
    candidate when it is decided N, ``u`` lies inside :data:`FUSION_BETWEEN` for every column, and
    it is not premature (``|log_pre_local| < FUSION_MAX_PRE``). Nothing is flagged with fewer than
    :data:`FUSION_MIN_V` beats decided V, or when a column's two medians coincide.

    Parameters
    ----------
    values : np.ndarray
        ``(n, k)`` beat features (:data:`FUSION_COLUMNS`: lead-0 QRS width ratio and QRS
        correlation with the record template, dimensionless).
    log_pre_local : np.ndarray
        ``(n,)`` ln(pre-RR / local RR) (dimensionless).
    decided : np.ndarray
        ``(n,)`` class indices the classifier decided (:data:`AAMI_CLASSES` order).

    Returns
    -------
    np.ndarray
        ``(n,)`` bool.
    """
    values = np.asarray(values, dtype=np.float64).reshape(len(decided), -1)
    decided = np.asarray(decided)
    n_idx, v_idx = AAMI_CLASSES.index("N"), AAMI_CLASSES.index("V")
    is_n, is_v = decided == n_idx, decided == v_idx
    mask = is_n & (np.abs(np.asarray(log_pre_local, dtype=np.float64)) < FUSION_MAX_PRE)
    if int(is_v.sum()) < FUSION_MIN_V or not is_n.any():
        return np.zeros(len(decided), dtype=bool)
    lo, hi = FUSION_BETWEEN
    for x in values.T:
        med_n, med_v = float(np.median(x[is_n])), float(np.median(x[is_v]))
        if abs(med_v - med_n) < 1e-6:
            return np.zeros(len(decided), dtype=bool)
        u = (x - med_n) / (med_v - med_n)
        mask &= (u > lo) & (u < hi)
    return mask


def move_mass(proba: np.ndarray, mask: np.ndarray, source: str, target: str) -> np.ndarray:
    """Move the ``source`` class probability of the beats in ``mask`` (``(n,)`` bool) to ``target``.

    ``proba`` is ``(..., n, 5)`` (columns :data:`AAMI_CLASSES`); a changed copy is returned, rows
    still sum to 1.
    """
    out = np.array(proba, dtype=np.float64, copy=True)
    a, b = AAMI_CLASSES.index(source), AAMI_CLASSES.index(target)
    out[..., mask, b] += out[..., mask, a]
    out[..., mask, a] = 0.0
    return out


def apply_fusion(proba: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Move the N probability of the beats in ``mask`` (``(n,)`` bool) to F; ``proba`` is ``(..., n, 5)``; rows still sum to 1."""
    return move_mass(proba, mask, "N", "F")


def run_mask(pre_s: np.ndarray, record_rr_s: float, decided: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Beats decided N that continue a supraventricular run (module docstring, step 7).

    Parameters
    ----------
    pre_s : np.ndarray
        ``(n,)`` RR interval before each beat (s), in beat order.
    record_rr_s : float
        The record's (or chunk's) median RR (s).
    decided : np.ndarray
        ``(n,)`` class indices the classifier decided (:data:`AAMI_CLASSES` order).
    allowed : np.ndarray or None
        ``(n,)`` bool: beats that may change (e.g. those the AF gate left alone); default all.

    Returns
    -------
    np.ndarray
        ``(n,)`` bool: in a fast run with a beat decided S, not the run's first beat, decided N,
        RR within :data:`RUN_MAX_STEP` (log) of the previous beat's.
    """
    from cliniloop.models.ecg.beat_table import fast_runs

    pre = np.maximum(np.asarray(pre_s, dtype=np.float64), 1e-3)
    decided = np.asarray(decided)
    mask = np.zeros(len(decided), dtype=bool)
    s_idx, n_idx = AAMI_CLASSES.index("S"), AAMI_CLASSES.index("N")
    for a, b in fast_runs(pre, record_rr_s):
        if b == a or not (decided[a : b + 1] == s_idx).any():
            continue
        k = np.arange(a + 1, b + 1)
        mask[k] = (decided[k] == n_idx) & (np.abs(np.log(pre[k] / pre[k - 1])) < RUN_MAX_STEP)
    if allowed is not None:
        mask &= np.asarray(allowed, dtype=bool)
    return mask


def _apply_scaling(proba: np.ndarray, temperature: float, bias: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    return softmax(np.log(np.clip(proba, 1e-9, 1.0)) / temperature + bias[None, :], axis=1)


class BoostedBeatClassifier:
    """AAMI N/S/V/F/Q beat classifier: calibrated, record-bagged LightGBM members (module docstring).

    Parameters
    ----------
    n_members : int
        Record groups, hence ensemble members (and out-of-fold splits for calibration and
        thresholds).
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample : number
        LightGBM settings of each member (``subsample`` = bagging fraction per tree,
        ``colsample`` = feature fraction per tree).
    max_class_weight : float
        Cap of the class weights ``n_max / n_c``.
    max_n_per_record : int or None
        N beats kept per training record (seeded draw); ``None`` keeps all.
    feature_groups : tuple of str
        Keys of :data:`FEATURE_GROUPS` used as model inputs.
    calibrate : bool
        Fit the vector scaling on out-of-fold probabilities.
    tune_thresholds : bool
        Move the per-class decision weights on out-of-fold probabilities (off by default: it
        lowered grouped-CV macro-F1 on DS1); otherwise they stay at ``exp(-b)``.
    af_gate : bool
        Choose, on the out-of-fold probabilities, an ``rr_spread`` limit above which S is not
        called (:func:`apply_gate`; :data:`GATE_SPREADS`, ``inf`` when no limit helps).
    run_rule : bool
        Call S the beats that continue a run begun by an S beat (:func:`run_mask`; per record or
        chunk, like ``fusion_rule``).
    fusion_rule : bool
        Call F the beats of a record that sit between its N and V beats (:func:`fusion_mask`;
        applied per call of :meth:`proba_samples_from_features`, i.e. per record or chunk).
    leads : int
        Leads used (the first ``leads`` columns of each signal).
    seed : int
        Seeds the record groups, the N draw and LightGBM.
    n_jobs : int
        LightGBM threads.
    """

    def __init__(
        self,
        *,
        n_members: int = 4,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample: float = 0.5,
        max_class_weight: float = 20.0,
        max_n_per_record: int | None = 1000,
        feature_groups: tuple[str, ...] = ("rr", "record", "shape", "neighbours", "ectopic", "record_z"),
        calibrate: bool = True,
        tune_thresholds: bool = False,
        af_gate: bool = True,
        run_rule: bool = True,
        fusion_rule: bool = True,
        leads: int = 2,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_members = n_members
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample = colsample
        self.max_class_weight = max_class_weight
        self.max_n_per_record = max_n_per_record
        self.feature_groups = tuple(feature_groups)
        self.calibrate = calibrate
        self.tune_thresholds = tune_thresholds
        self.af_gate = af_gate
        self.run_rule = run_rule
        self.fusion_rule = fusion_rule
        self.leads = leads
        self.seed = seed
        self.n_jobs = n_jobs
        self.members_: list[Any] | None = None
        self.columns_: list[str] | None = None
        self.temperature_: float = 1.0
        self.bias_: np.ndarray = np.zeros(len(AAMI_CLASSES))
        self.thresholds_: np.ndarray = np.ones(len(AAMI_CLASSES))
        self.gate_spread_: float = math.inf
        self.embed_mean_: np.ndarray | None = None
        self.embed_std_: np.ndarray | None = None
        self.training_: dict[str, Any] = {}

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        return {
            "n_members": self.n_members,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "colsample": self.colsample,
            "max_class_weight": self.max_class_weight,
            "max_n_per_record": self.max_n_per_record,
            "feature_groups": list(self.feature_groups),
            "calibrate": self.calibrate,
            "tune_thresholds": self.tune_thresholds,
            "af_gate": self.af_gate,
            "run_rule": self.run_rule,
            "fusion_rule": self.fusion_rule,
            "leads": self.leads,
            "seed": self.seed,
            "n_jobs": self.n_jobs,
        }

    device_ = "cpu"

    # ------------------------------------------------------------------ features
    def features(self, record: Any) -> np.ndarray:
        """Full feature table ``(n_beats, n_columns)`` of a :class:`~cliniloop.models.ecg.classify.RecordBeats` (cached on it)."""
        from cliniloop.models.ecg.beat_table import feature_table

        signal = np.asarray(record.signal)
        if signal.ndim == 1:
            signal = signal[:, None]
        if signal.shape[1] < self.leads:
            raise ValueError(f"record {record.name}: {signal.shape[1]} lead(s), the classifier uses {self.leads}")
        signal = signal[:, : self.leads]
        samples = np.asarray(record.samples)
        key = (
            "table",
            self.leads,
            float(record.sampling_rate),
            signal.shape,
            hashlib.sha1(np.ascontiguousarray(signal).tobytes()).hexdigest(),
            hashlib.sha1(np.ascontiguousarray(samples, dtype=np.int64).tobytes()).hexdigest(),
        )
        cached = record._features.get(key)
        if cached is None:
            X, names = feature_table(bf.beat_inputs(signal, record.sampling_rate, samples))
            cached = (X, names)
            record._features.clear()
            record._features[key] = cached
        X, names = cached
        if self.columns_ is not None and names != self.columns_:
            raise ValueError("feature columns differ from the ones the classifier was trained on")
        return X

    def _group_columns(self, names: Sequence[str], groups: Sequence[str]) -> np.ndarray:
        unknown = [g for g in groups if g not in FEATURE_GROUPS]
        if unknown:
            raise ValueError(f"unknown feature group(s) {unknown}; choose from {sorted(FEATURE_GROUPS)}")
        prefixes = tuple(p for g in groups for p in FEATURE_GROUPS[g])
        return np.array([i for i, n in enumerate(names) if n.startswith(prefixes)], dtype=np.intp)

    @property
    def input_columns_(self) -> np.ndarray:
        """Indices of the model's input columns in the full table."""
        self._check_fitted()
        return self._group_columns(self.columns_, self.feature_groups)

    def embedding(self, X: np.ndarray) -> np.ndarray:
        """Standardised shape, neighbour and RR columns (``EMBED_GROUPS``) of feature rows ``X``, for adaptation."""
        self._check_fitted()
        cols = self._group_columns(self.columns_, EMBED_GROUPS)
        return ((X[:, cols] - self.embed_mean_) / self.embed_std_).astype(np.float32)

    # ------------------------------------------------------------------ training
    def _groups(self, rare_counts: Sequence[int], k: int) -> list[int]:
        rng = np.random.default_rng(self.seed)
        tie = rng.permutation(len(rare_counts))
        order = sorted(range(len(rare_counts)), key=lambda i: (-rare_counts[i], tie[i]))
        snake = [j for r in range(math.ceil(len(order) / k)) for j in (range(k) if r % 2 == 0 else range(k - 1, -1, -1))]
        out = [0] * len(order)
        for pos, i in enumerate(order):
            out[i] = snake[pos]
        return out

    def _train_member(self, X: np.ndarray, y: np.ndarray, seed: int) -> Any:
        import lightgbm as lgb

        counts = np.bincount(y, minlength=len(AAMI_CLASSES)).astype(np.float64)
        w = np.minimum(counts.max() / np.maximum(counts, 1.0), self.max_class_weight)
        params = {
            "objective": "multiclass",
            "num_class": len(AAMI_CLASSES),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample,
            "lambda_l2": 1.0,
            "num_threads": self.n_jobs,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        data = lgb.Dataset(X, label=y, weight=w[y], free_raw_data=True)
        return lgb.train(params, data, num_boost_round=self.n_estimators)

    def _subsample(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        labelled = np.flatnonzero(y >= 0)
        if self.max_n_per_record is None:
            return labelled
        normal = labelled[y[labelled] == 0]
        if len(normal) > self.max_n_per_record:
            normal = np.sort(rng.choice(normal, self.max_n_per_record, replace=False))
        return np.sort(np.concatenate([normal, labelled[y[labelled] != 0]]))

    def fit(self, records: Sequence[Any], *, progress: Progress | None = None) -> BoostedBeatClassifier:
        """Train the members, calibrate and set the per-class thresholds (module docstring).

        Parameters
        ----------
        records : sequence of RecordBeats
            Records with ``labels``; unlabelled beats (``""``/``None``) give context only.
        progress : callable or None
            Called as ``progress(members_done, members_total)``.

        Returns
        -------
        BoostedBeatClassifier
            ``self``.

        Raises
        ------
        ValueError
            No labelled beat or an unknown label.
        """
        t0 = time.perf_counter()
        self.columns_ = None
        rng = np.random.default_rng(self.seed)
        parts = []
        names: list[str] | None = None
        for rec in records:
            X = self.features(rec)
            if names is None:
                from cliniloop.models.ecg.beat_table import feature_table

                names = feature_table(bf.beat_inputs(np.zeros((8, self.leads)), 360.0, np.array([4])))[1]
            y = _label_indices(rec.labels, len(X), rec.name)
            keep = self._subsample(y, rng)
            if len(keep):
                parts.append((rec.name, X[keep], y[keep]))
        if not parts:
            raise ValueError("no labelled beat in the training records")
        self.columns_ = list(names)
        cols = self._group_columns(self.columns_, self.feature_groups)
        emb_cols = self._group_columns(self.columns_, EMBED_GROUPS)
        all_x = np.concatenate([p[1] for p in parts])
        self.embed_mean_ = all_x[:, emb_cols].mean(axis=0)
        self.embed_std_ = np.maximum(all_x[:, emb_cols].std(axis=0), 1e-3)
        k = min(self.n_members, len(parts))
        self.temperature_, self.bias_ = 1.0, np.zeros(len(AAMI_CLASSES))
        self.thresholds_ = np.ones(len(AAMI_CLASSES))
        self.gate_spread_ = math.inf
        if k < 2:
            X = np.concatenate([p[1][:, cols] for p in parts])
            y = np.concatenate([p[2] for p in parts])
            self.members_ = [self._train_member(X, y, self.seed)]
            groups: list[int] = [0] * len(parts)
            if progress:
                progress(1, 1)
        else:
            rare = [int((p[2] > 0).sum()) for p in parts]
            groups = self._groups(rare, k)
            self.members_ = []
            oof_p, oof_y = [], []
            held_all: list[tuple[str, np.ndarray, np.ndarray]] = []
            for j in range(k):
                train = [p for p, g in zip(parts, groups, strict=True) if g != j]
                held = [p for p, g in zip(parts, groups, strict=True) if g == j]
                X = np.concatenate([p[1][:, cols] for p in train])
                y = np.concatenate([p[2] for p in train])
                member = self._train_member(X, y, self.seed + j)
                self.members_.append(member)
                oof_p.append(member.predict(np.concatenate([p[1][:, cols] for p in held])))
                oof_y.append(np.concatenate([p[2] for p in held]))
                held_all.extend(held)
                if progress:
                    progress(j + 1, k)
            P, Y = np.concatenate(oof_p), np.concatenate(oof_y)
            if self.calibrate:
                self.temperature_, self.bias_ = fit_vector_scaling(P, Y)
            Pc = _apply_scaling(P, self.temperature_, self.bias_)
            # start from the class-weighted members' own decision (undo the calibration's prior shift)
            start = np.exp(-self.bias_)
            self.thresholds_ = tune_decision_weights(Pc, Y, start=start) if self.tune_thresholds else start
            if self.af_gate:
                spread = np.concatenate([p[1][:, self.columns_.index("rr:rr_spread")] for p in held_all])
                self.gate_spread_ = choose_gate(Pc, Y, spread, self.thresholds_)
        y_all = np.concatenate([p[2] for p in parts])
        counts = np.bincount(y_all, minlength=len(AAMI_CLASSES))
        self.training_ = {
            "records": [p[0] for p in parts],
            "record_groups": {p[0]: int(g) for p, g in zip(parts, groups, strict=True)},
            "beats": int(len(y_all)),
            "class_counts": {c: int(n) for c, n in zip(AAMI_CLASSES, counts, strict=True)},
            "temperature": round(self.temperature_, 4),
            "bias": {c: round(float(b), 4) for c, b in zip(AAMI_CLASSES, self.bias_, strict=True)},
            "thresholds": {c: round(float(w), 4) for c, w in zip(AAMI_CLASSES, self.thresholds_, strict=True)},
            "af_gate_rr_spread": None if math.isinf(self.gate_spread_) else self.gate_spread_,
            "device": "cpu",
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not self.members_ or self.columns_ is None:
            raise RuntimeError("BoostedBeatClassifier is not fitted: call fit() or load()")

    def proba_samples_from_features(self, X: np.ndarray) -> np.ndarray:
        """Each member's calibrated probabilities ``(n_members, n, 5)`` for feature rows ``X``."""
        self._check_fitted()
        if len(X) == 0:
            return np.zeros((len(self.members_), 0, len(AAMI_CLASSES)))
        Xi = X[:, self.input_columns_]
        samples = np.stack([_apply_scaling(m.predict(Xi), self.temperature_, self.bias_) for m in self.members_])
        gated = np.zeros(len(X), dtype=bool)
        if math.isfinite(self.gate_spread_):
            spread = X[:, self.columns_.index("rr:rr_spread")]
            samples = apply_gate(samples, spread, self.gate_spread_)
            gated = spread > self.gate_spread_
        if self.run_rule:
            decided = self._decided(samples.mean(axis=0))
            pre, rec_rr = X[:, self.columns_.index("rr:pre_s")], float(X[0, self.columns_.index("rec:rr_s")])
            mask = run_mask(pre, rec_rr, decided, allowed=~gated)
            if mask.any():
                samples = move_mass(samples, mask, "N", "S")
        if self.fusion_rule:
            decided = self._decided(samples.mean(axis=0))
            cols = [self.columns_.index(c) for c in FUSION_COLUMNS]
            mask = fusion_mask(X[:, cols], X[:, self.columns_.index("rr:log_pre_local")], decided)
            if mask.any():
                samples = apply_fusion(samples, mask)
        return samples

    def proba_from_features(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``(n, 5)`` (mean over members) for feature rows ``X``."""
        return self.proba_samples_from_features(X).mean(axis=0)

    def predict_proba_samples(self, record: Any) -> np.ndarray:
        """Each member's calibrated probabilities ``(n_members, n_beats, 5)`` (for BALD)."""
        self._check_fitted()
        return self.proba_samples_from_features(self.features(record))

    def predict_proba(self, record: Any) -> np.ndarray:
        """Calibrated class probabilities ``(n_beats, 5)``, columns :data:`AAMI_CLASSES`; rows sum to 1."""
        self._check_fitted()
        return self.proba_from_features(self.features(record))

    def _decided(self, proba: np.ndarray) -> np.ndarray:
        """Class indices ``argmax_c thresholds_[c] * proba[:, c]`` (:data:`AAMI_CLASSES` order)."""
        return (np.asarray(proba) * self.thresholds_[None, :]).argmax(axis=1)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class letters ``argmax_c thresholds_[c] * proba[:, c]`` (the per-class thresholds)."""
        proba = np.asarray(proba)
        if len(proba) == 0:
            return np.array([], "<U1")
        return np.asarray(AAMI_CLASSES, dtype="<U1")[self._decided(proba)]

    def predict(self, record: Any) -> np.ndarray:
        """AAMI class letter per beat after the per-class thresholds (``np.ndarray`` of str)."""
        return self.decide(self.predict_proba(record))

    # ------------------------------------------------------------------ persistence
    def _meta(self) -> dict[str, Any]:
        return {
            "temperature": float(self.temperature_),
            "bias": [float(v) for v in self.bias_],
            "thresholds": [float(v) for v in self.thresholds_],
            "gate_spread": None if math.isinf(self.gate_spread_) else float(self.gate_spread_),
            "embed_mean": [float(v) for v in self.embed_mean_],
            "embed_std": [float(v) for v in self.embed_std_],
        }

    @property
    def version(self) -> str:
        """``beatgbm-<12 hex>``: SHA-256 of the member models, calibration and thresholds."""
        self._check_fitted()
        h = hashlib.sha256()
        for m in self.members_:
            h.update(m.model_to_string().encode())
        h.update(json.dumps(self._meta(), sort_keys=True).encode())
        return f"beatgbm-{h.hexdigest()[:12]}"

    def save(self, folder: Path) -> Path:
        """Write ``beatgbm.json`` and ``beatgbm_<j>.txt`` (LightGBM text models) into ``folder``; returns it."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for j, m in enumerate(self.members_):
            (folder / f"beatgbm_{j}.txt").write_text(m.model_to_string(), encoding="utf-8")
        meta = {
            "format": FORMAT_VERSION,
            "model": "beatgbm",
            "version": self.version,
            "classes": list(AAMI_CLASSES),
            "params": self.get_params(),
            "columns": self.columns_,
            "members": len(self.members_),
            **self._meta(),
            "training": self.training_,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> BoostedBeatClassifier:
        """Read a classifier written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            Naming the missing file.
        ValueError
            When the classes or feature columns differ from this code's.
        """
        import lightgbm as lgb

        from cliniloop.models.ecg.beat_table import feature_table

        folder = Path(folder)
        if not (folder / META_FILE).is_file():
            raise FileNotFoundError(f"{folder / META_FILE}: missing beat classifier file")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        params = dict(meta["params"])
        params["feature_groups"] = tuple(params["feature_groups"])
        params.setdefault("run_rule", False)  # files written before the rules keep their behaviour
        params.setdefault("fusion_rule", False)
        clf = cls(**params)
        names = feature_table(bf.beat_inputs(np.zeros((8, clf.leads)), 360.0, np.array([4])))[1]
        if meta.get("classes") != list(AAMI_CLASSES) or meta.get("columns") != names:
            raise ValueError(f"{folder / META_FILE}: classes or feature columns differ from this version of the code")
        members = []
        for j in range(int(meta["members"])):
            path = folder / f"beatgbm_{j}.txt"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing beat classifier file")
            members.append(lgb.Booster(model_str=path.read_text(encoding="utf-8")))
        clf.members_ = members
        clf.columns_ = names
        clf.temperature_ = float(meta["temperature"])
        clf.bias_ = np.asarray(meta["bias"], dtype=np.float64)
        clf.thresholds_ = np.asarray(meta["thresholds"], dtype=np.float64)
        gate = meta.get("gate_spread")
        clf.gate_spread_ = math.inf if gate is None else float(gate)
        clf.embed_mean_ = np.asarray(meta["embed_mean"], dtype=np.float32)
        clf.embed_std_ = np.asarray(meta["embed_std"], dtype=np.float32)
        clf.training_ = dict(meta.get("training", {}))
        return clf
