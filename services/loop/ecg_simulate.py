"""``cliniloop simulate --task ecg-beats``: patient adaptation from a few corrected beats, replayed.

Scheme
------
Records are split into record-grouped folds (:func:`cliniloop.services.loop.ecg_records.record_folds`,
stratified by beat class, seeded). For each fold the base model
(:class:`~cliniloop.models.ecg.boosted.BoostedBeatClassifier`) is trained on the other folds' records. Then,
for each held-out record and each strategy, an "annotator" (the reference labels) corrects beats
of that record in batches of ``batch``: the strategy picks the next batch from the record's
not-yet-corrected beats using the *current* (already adapted) probabilities, the corrected beats
go into a :class:`~cliniloop.models.ecg.adapt.PatientAdapter` for that record, and the record is predicted
again. At every budget ``k`` in ``ks`` the record's beats that were **not** corrected are scored
(so a corrected beat never counts as a success); beats of all records are pooled per (strategy, k).

Strategies (all through :func:`cliniloop.models.sampling.strategies.select`; no uncertainty maths here):

``uncertainty``  normalised predictive entropy of the adapted probabilities (``entropy``)
``bald``         BALD mutual information over the ensemble members (``bald``)
``rare_boost``   entropy times the rare-class boost from the record's corrected-class counts
                 (``entropy`` with ``rare_boost=1``)
``random``       seeded uniform choice (the baseline)
``kcenter``      entropy-prefiltered k-center on the adaptation embedding (``entropy_kcenter``)

Everything is seeded: the folds, the N draw and LightGBM (deterministic mode) of the base
models, and every strategy's choice; the same inputs and seed give the same JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.models.ecg.metrics import MACRO_CLASSES, classification_scores
from cliniloop.services.loop.ecg import WINDOW_S

#: Harness strategy -> (registry strategy, rare_boost strength).
STRATEGIES: Mapping[str, tuple[str, float | None]] = {
    "uncertainty": ("entropy", None),
    "bald": ("bald", None),
    "rare_boost": ("entropy", 1.0),
    "random": ("random", None),
    "kcenter": ("entropy_kcenter", None),
}

Progress = Callable[[int, int], None]


class EcgSimulationError(ValueError):
    """Bad settings or inputs for the ECG replay (the message names the option or record)."""


@dataclass(frozen=True)
class EcgSimulationConfig:
    """What to replay.

    Attributes
    ----------
    strategies : tuple of str
        Keys of :data:`STRATEGIES`.
    ks : tuple of int
        Corrected beats per record at which scores are taken (ascending, starting at 0 or more).
    folds : int
        Record-grouped folds for the base models.
    batch : int
        Beats corrected between two adaptations.
    seed : int
        Seeds folds, base models and strategies.
    params : dict
        :class:`~cliniloop.models.ecg.boosted.BoostedBeatClassifier` arguments.
    adapter : dict
        :class:`~cliniloop.models.ecg.adapt.PatientAdapter` arguments.
    """

    strategies: tuple[str, ...] = ("uncertainty", "bald", "rare_boost", "random")
    ks: tuple[int, ...] = (0, 10, 25, 50, 100)
    folds: int = 5
    batch: int = 5
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    adapter: dict[str, Any] = field(default_factory=dict)

    def validate(self, n_records: int) -> None:
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies:
            raise EcgSimulationError(f"--strategies: unknown {unknown}; choose from {', '.join(STRATEGIES)}")
        if not self.ks or list(self.ks) != sorted(set(self.ks)) or self.ks[0] < 0:
            raise EcgSimulationError(f"--ks must be distinct, ascending and >= 0, got {list(self.ks)}")
        if self.batch < 1:
            raise EcgSimulationError(f"--batch must be >= 1, got {self.batch}")
        if n_records < 2:
            raise EcgSimulationError("the replay needs at least two records (one to train on, one to adapt to)")
        if not 2 <= self.folds:
            raise EcgSimulationError(f"--folds must be at least 2, got {self.folds}")


def _pick(
    strategy: str, proba: np.ndarray, samples: np.ndarray, emb: np.ndarray, y_lab: np.ndarray, labelled: list[int], k: int, seed: int
) -> list[int]:
    from cliniloop.models.sampling.strategies import PoolView, select
    from cliniloop.taxonomies.ecg import AAMI_CLASSES

    name, boost = STRATEGIES[strategy]
    width = len(str(len(proba)))
    ids = [str(i).zfill(width) for i in range(len(proba))]
    counts = np.bincount(y_lab, minlength=len(AAMI_CLASSES)).astype(np.float64) if len(y_lab) else np.zeros(len(AAMI_CLASSES))
    pool = PoolView(
        ids=tuple(ids),
        proba=proba,
        proba_samples=samples if name == "bald" else None,
        embeddings=emb if name == "entropy_kcenter" else None,
        class_counts=counts,
    )
    chosen = select(name, pool, k, seed=seed, labelled_ids=[ids[i] for i in labelled], rare_boost=boost)
    return [int(c) for c in chosen]


def review_seconds(samples: np.ndarray, sampling_rate: float, window_s: float = WINDOW_S) -> float:
    """Seconds of signal an annotator reviews to correct the beats at ``samples``: ``window_s`` per distinct
    ECG task window (``window_s`` long, from the record's start) holding at least one of them.

    Parameters
    ----------
    samples : ndarray of int
        Sample indices of the corrected beats.
    sampling_rate : float
        Samples per second.
    window_s : float
        Task window length (s).
    """
    if not len(samples):
        return 0.0
    per_window = max(1, int(round(window_s * float(sampling_rate))))
    return float(len(np.unique(np.asarray(samples, dtype=np.int64) // per_window)) * window_s)


def replay_record(
    clf: Any, record: Any, config: EcgSimulationConfig, seed: int
) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray, float]]]:
    """Corrections of one held-out record, per strategy and budget: ``(reference, predicted)`` of the uncorrected
    beats and the seconds of signal reviewed to correct the chosen ones (:func:`review_seconds`)."""
    from cliniloop.models.ecg.adapt import PatientAdapter, record_scale
    from cliniloop.models.ecg.classify import _label_indices
    from cliniloop.taxonomies.ecg import AAMI_CLASSES

    X = clf.features(record)
    emb = clf.embedding(X)
    base_s = clf.proba_samples_from_features(X)
    base_p = base_s.mean(axis=0)
    scale = record_scale(emb)  # the record's own distance unit, once (not per adaptation)
    y = _label_indices(record.labels, len(X), record.name)
    ref = np.asarray(AAMI_CLASSES, "<U1")[np.maximum(y, 0)]
    out: dict[str, dict[int, tuple[np.ndarray, np.ndarray, float]]] = {}
    for strategy in config.strategies:
        labelled: list[int] = []
        p, s = base_p, base_s
        per_k = {}
        for k in config.ks:
            target = min(k, len(X))
            while len(labelled) < target:
                n_new = min(config.batch, target - len(labelled))
                labelled += _pick(strategy, p, s, emb, y[labelled], labelled, n_new, seed + len(labelled))
                adapter = PatientAdapter(**config.adapter).fit(emb[labelled], y[labelled])
                p, s = adapter.adjust(emb, base_p, scale=scale), adapter.adjust(emb, base_s, scale=scale)
            rest = np.ones(len(X), dtype=bool)
            rest[labelled] = False
            rest &= y >= 0
            per_k[k] = (ref[rest], clf.decide(p)[rest], review_seconds(np.asarray(record.samples)[labelled], record.sampling_rate))
        out[strategy] = per_k
    return out


def simulate_ecg_records(
    records: Sequence[Any], config: EcgSimulationConfig, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the replay on labelled :class:`~cliniloop.models.ecg.classify.RecordBeats` (module docstring).

    Returns
    -------
    dict
        ``scheme``, ``config``, ``folds`` (test records and base-model seconds per fold),
        ``strategies`` -> ``k`` -> ``macro_f1``, ``accuracy``, ``beats``, ``review_s_per_record`` (seconds of
        signal reviewed per held-out record, :func:`review_seconds`) and ``per_class``
        ({N,S,V,F}: sensitivity, ppv, support), and ``seconds``.
    """
    from cliniloop.models.ecg.boosted import BoostedBeatClassifier
    from cliniloop.services.loop.ecg_records import record_folds

    t0 = time.perf_counter()
    config.validate(len(records))
    fold_sets = record_folds(records, min(config.folds, len(records)), config.seed)
    pooled: dict[str, dict[int, list[tuple[np.ndarray, np.ndarray, float]]]] = {
        s: {k: [] for k in config.ks} for s in config.strategies
    }
    fold_info = []
    done = 0
    for test_idx in fold_sets:
        tf = time.perf_counter()
        train = [r for i, r in enumerate(records) if i not in test_idx]
        clf = BoostedBeatClassifier(**{"seed": config.seed, **config.params}).fit(train)
        fit_s = time.perf_counter() - tf
        for i in test_idx:
            res = replay_record(clf, records[i], config, config.seed + 1000 * i)
            for s, per_k in res.items():
                for k, pair in per_k.items():
                    pooled[s][k].append(pair)
            done += 1
            if progress is not None:
                progress(done, len(records))
        fold_info.append(
            {"test_records": [records[i].name for i in test_idx], "fit_seconds": round(fit_s, 1), "seconds": round(time.perf_counter() - tf, 1)}
        )
    curves: dict[str, dict[str, Any]] = {}
    for s in config.strategies:
        curves[s] = {}
        for k in config.ks:
            ref = np.concatenate([a for a, _, _ in pooled[s][k]])
            pred = np.concatenate([b for _, b, _ in pooled[s][k]])
            sc = classification_scores(ref, pred)
            curves[s][str(k)] = {
                "macro_f1": sc["macro_f1"],
                "accuracy": sc["accuracy"],
                "beats": int(len(ref)),
                "review_s_per_record": round(float(np.mean([t for _, _, t in pooled[s][k]])), 1),
                "per_class": {
                    c: {key: sc["per_class"][c][key] for key in ("sensitivity", "ppv", "support")} for c in MACRO_CLASSES
                },
            }
    return {
        "task": "ecg-beats",
        "scheme": f"{len(fold_sets)}-fold grouped by record (seed {config.seed}); per held-out record, beats corrected "
        f"in batches of {config.batch} chosen by each strategy; scored on the record's uncorrected beats, pooled",
        "config": asdict(config),
        "records": [r.name for r in records],
        "folds": fold_info,
        "strategies": curves,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def simulate_ecg_beats(
    wfdb_dir: Path,
    config: EcgSimulationConfig,
    *,
    records: Sequence[str] | None = None,
    include_paced: bool = False,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    mapping_path: Path | None = None,
) -> dict[str, Any]:
    """Read a WFDB folder's annotated records and run :func:`simulate_ecg_records`.

    ``out_dir`` receives ``ecg_simulation.json`` and ``ecg_adaptation.png``.
    """
    import json

    from cliniloop.services.loop.ecg_train import reference_records

    recs = reference_records(Path(wfdb_dir), records, include_paced=include_paced, mapping_path=mapping_path)
    result = simulate_ecg_records(recs, config, progress=progress)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "ecg_simulation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        result["plot"] = str(adaptation_plot(result, out_dir / "ecg_adaptation.png"))
    return result


def adaptation_plot(result: Mapping[str, Any], path: Path) -> Path:
    """PNG of macro-F1, S sensitivity and S PPV against corrected beats per record, and macro-F1 against the
    seconds of signal reviewed, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("macro-F1 (N, S, V, F)", lambda r: r["macro_f1"]),
              ("S sensitivity", lambda r: r["per_class"]["S"]["sensitivity"]),
              ("S PPV", lambda r: r["per_class"]["S"]["ppv"])]  # fmt: skip
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(17, 3.8))
    for ax, (title, get) in zip(axes, panels, strict=False):
        for name, curve in result["strategies"].items():
            ks = [int(k) for k in curve]
            ax.plot(ks, [get(curve[str(k)]) or 0.0 for k in ks], marker="o", label=name)
        ax.set_xlabel("corrected beats per record (k)")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    cost = axes[-1]  # the same macro-F1 in the cost unit: seconds of signal reviewed (10-s task windows opened)
    for name, curve in result["strategies"].items():
        xs = [curve[k].get("review_s_per_record", 0.0) for k in curve]
        cost.plot(xs, [curve[k]["macro_f1"] or 0.0 for k in curve], marker="o", label=name)
    cost.set_xlabel("seconds of signal reviewed per record")
    cost.set_title("macro-F1 against review time", fontsize=9)
    cost.set_ylim(0, 1)
    cost.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("ECG patient adaptation (uncorrected beats of held-out records)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
