"""``cliniloop eval ecg-classify``: inter-patient AAMI beat classification scored per class.

Beats are the reference annotations of the ``.atr`` files (detection is evaluated apart): every
annotation whose MIT-BIH symbol maps to an AAMI class (:func:`cliniloop.taxonomies.ecg.load_beat_mapping`)
is a beat, at the annotated sample, with that class as reference. Leads are read with MLII first
when a record has it (MIT-BIH 114 stores V5 before MLII), then the others in file order.

Schemes
-------
* **train/test**: one :class:`~cliniloop.models.ecg.classify.BeatClassifier` fitted on the training
  records, scored on the test records. A record may not be on both sides (inter-patient).
* **cross-validation** (``cv=True``): leave-records-out inside one set. ``folds=None`` is
  leave-one-record-out (one fit per record); ``folds=k`` makes ``k`` folds grouped by record and
  stratified by the records' beat classes (scikit-learn ``StratifiedGroupKFold``, shuffled by
  ``seed``). Predictions of all folds are pooled before scoring, so every beat is predicted
  exactly once by a model that never saw its record.

Paced records (:data:`cliniloop.taxonomies.ecg.PACED_RECORDS`) are left out unless ``include_paced``.

Scores: per class (N, S, V, F, Q) sensitivity (recall) = TP / reference beats, positive
predictive value = TP / predicted beats, F1 and support; accuracy over all beats; macro-F1 over
N, S, V and F (Q has a handful of beats in MIT-BIH and is reported but not averaged); the
confusion matrix (rows reference, columns predicted); and calibration of the probabilities
(expected calibration error of the top class over 15 equal-width bins, mean negative
log-likelihood, multi-class Brier score).
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.models.ecg.metrics import MACRO_CLASSES, calibration_scores, classification_scores
from cliniloop.services.loop.ecg_records import EcgRecordError as EcgClassifyEvalError
from cliniloop.services.loop.ecg_records import read_annotated_record, read_record_list, record_folds
from cliniloop.taxonomies.ecg import AAMI_CLASSES, PACED_RECORDS, load_beat_mapping


Progress = Callable[[int, int], None]


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


#: ``model`` argument -> model name in reports.
MODELS = {"gbm": "beatgbm", "cnn": "beatcnn"}


def make_classifier(model: str, params: Mapping[str, Any]) -> Any:
    """An unfitted beat classifier: ``"gbm"`` (boosted, the default) or ``"cnn"``."""
    if model == "cnn":
        from cliniloop.models.ecg.classify import BeatClassifier

        return BeatClassifier(**params)
    from cliniloop.models.ecg.boosted import BoostedBeatClassifier

    return BoostedBeatClassifier(**params)


def decide(clf: Any, proba: np.ndarray) -> np.ndarray:
    """Class letters from probabilities: the classifier's per-class thresholds when it has them, else arg-max."""
    if hasattr(clf, "decide"):
        return clf.decide(proba)
    return np.asarray(AAMI_CLASSES, "<U1")[proba.argmax(axis=1)] if len(proba) else np.array([], "<U1")


def _select(names: Sequence[str], include_paced: bool) -> tuple[list[str], list[str]]:
    kept = [n for n in names if include_paced or n not in PACED_RECORDS]
    return kept, [n for n in names if n not in kept]


def evaluate_classification(
    train_dir: Path,
    test_dir: Path | None = None,
    train: list[str] | None = None,
    test: list[str] | None = None,
    cv: bool = False,
    folds: int | None = None,
    include_paced: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    params: Mapping[str, Any] | None = None,
    mapping_path: Path | None = None,
    model: str = "gbm",
) -> dict[str, Any]:
    """Train the beat classifier and score it inter-patient (module docstring).

    Parameters
    ----------
    train_dir : Path
        Folder of the training records (and of the cross-validation records).
    test_dir : Path or None
        Folder of the test records; defaults to ``train_dir`` when ``test`` is given.
    train, test : list of str or None
        Record names; default: the folders' ``RECORDS`` files.
    cv : bool
        Leave-records-out cross-validation inside the training records (``test`` ignored).
    folds : int or None
        ``None`` = leave-one-record-out (22 fits for MIT-BIH DS1, about 17 min on one CPU
        thread with the default classifier); ``k`` = k folds grouped by record.
    include_paced : bool
        Keep records 102, 104, 107 and 217.
    seed : int
        Classifier seed (and fold shuffling).
    progress : callable or None
        Called as ``progress(fits_done, fits_total)``.
    params : mapping or None
        Extra classifier arguments (e.g. ``{"epochs": 1}`` for the CNN, ``{"n_estimators": 50}``
        for the boosted model).
    mapping_path : Path or None
        MIT-BIH symbol -> AAMI class mapping file (default: the bundled ``aami.json``); its
        ``name@version`` is reported as ``taxonomy_version``.
    model : {"gbm", "cnn"}
        :class:`~cliniloop.models.ecg.boosted.BoostedBeatClassifier` (default: calibrated, record-bagged
        LightGBM with per-class thresholds) or :class:`~cliniloop.models.ecg.classify.BeatClassifier`.

    Returns
    -------
    dict
        ``scheme``, ``per_class`` ({N,S,V,F,Q}: sensitivity, ppv, f1, support, predicted),
        ``accuracy``, ``macro_f1``, ``confusion`` (``labels``, ``matrix`` rows = reference),
        ``calibration``, ``records``, ``excluded_records``, ``beats``, ``per_record``, ``model``
        (parameters and, train/test only, version), ``device``, ``seconds``; for CV ``folds``.

    Raises
    ------
    EcgClassifyEvalError
        Missing RECORDS or record files, no record left, or a record in both train and test.
    """
    t0 = time.perf_counter()
    if model not in MODELS:
        raise EcgClassifyEvalError(f"model {model!r}: choose one of {', '.join(MODELS)}")
    train_dir = Path(train_dir)
    train_names, excluded = _select(train if train is not None else read_record_list(train_dir), include_paced)
    if not train_names:
        raise EcgClassifyEvalError(f"{train_dir}: no training record left (paced records excluded: {excluded})")
    clf_params = {"seed": seed, **dict(params or {})}

    def make() -> Any:
        return make_classifier(model, clf_params)

    result: dict[str, Any]
    if cv:
        records = [read_annotated_record(train_dir, n, mapping_path) for n in train_names]
        if len(records) < 2:
            raise EcgClassifyEvalError("cross-validation needs at least two records")
        fold_sets = record_folds(records, folds, seed)
        scheme = (
            f"leave-one-record-out ({len(records)} folds: each record predicted by a model trained on all the others)"
            if len(fold_sets) == len(records) and all(len(f) == 1 for f in fold_sets)
            else f"{len(fold_sets)}-fold grouped by record (StratifiedGroupKFold, seed {seed}; "
            "no record in both the training and the test part of a fold)"
        )
        ref: list[np.ndarray] = [np.array([], "<U1")] * len(records)
        pred: list[np.ndarray] = [np.array([], "<U1")] * len(records)
        proba: list[np.ndarray] = [np.zeros((0, len(AAMI_CLASSES)))] * len(records)
        fold_info = []
        for k, test_idx in enumerate(fold_sets):
            tf = time.perf_counter()
            fit_recs = [r for i, r in enumerate(records) if i not in test_idx]
            clf = make().fit(fit_recs)
            for i in test_idx:
                p = clf.predict_proba(records[i])
                proba[i] = p
                pred[i] = decide(clf, p)
                ref[i] = records[i].labels
            fold_ref = np.concatenate([ref[i] for i in test_idx])
            fold_pred = np.concatenate([pred[i] for i in test_idx])
            fs = classification_scores(fold_ref, fold_pred)
            fold_info.append(
                {
                    "test_records": [records[i].name for i in test_idx],
                    "beats": int(len(fold_ref)),
                    "accuracy": fs["accuracy"],
                    "macro_f1": fs["macro_f1"],
                    "temperature": round(clf.temperature_, 4),
                    "af_gate_rr_spread": (getattr(clf, "training_", None) or {}).get("af_gate_rr_spread"),
                    "seconds": round(time.perf_counter() - tf, 1),
                }
            )
            if progress is not None:
                progress(k + 1, len(fold_sets))
        test_records = records
        device = clf.device_
        model_info: dict[str, Any] = {"name": MODELS[model], "params": clf.get_params()}
        result = {"scheme": scheme}
    else:
        if test is None and test_dir is None:
            raise EcgClassifyEvalError("give a test folder, test records, or cv=True")
        test_dir = Path(test_dir) if test_dir is not None else train_dir
        test_names, excluded_test = _select(test if test is not None else read_record_list(test_dir), include_paced)
        excluded = excluded + [n for n in excluded_test if n not in excluded]
        if not test_names:
            raise EcgClassifyEvalError(f"{test_dir}: no test record left (paced records excluded: {excluded_test})")
        if test_dir.resolve() == train_dir.resolve():
            both = sorted(set(train_names) & set(test_names))
            if both:
                raise EcgClassifyEvalError(
                    f"records {', '.join(both)} are in both train and test: inter-patient evaluation "
                    "never mixes a record's beats across the two"
                )
        fit_recs = [read_annotated_record(train_dir, n, mapping_path) for n in train_names]
        test_records = [read_annotated_record(test_dir, n, mapping_path) for n in test_names]
        clf = make().fit(fit_recs)
        proba = [clf.predict_proba(r) for r in test_records]
        pred = [decide(clf, p) for p in proba]
        ref = [r.labels for r in test_records]
        device = clf.device_
        model_info = {"name": MODELS[model], "version": clf.version, "params": clf.get_params(), "training": clf.training_}
        result = {"scheme": f"train/test ({len(fit_recs)} training records, {len(test_records)} test records)"}
        result["train_records"] = [r.name for r in fit_recs]
        if progress is not None:
            progress(1, 1)

    all_ref = np.concatenate(ref) if ref else np.array([], "<U1")
    all_pred = np.concatenate(pred) if pred else np.array([], "<U1")
    all_proba = np.concatenate(proba) if proba else np.zeros((0, len(AAMI_CLASSES)))
    scores = classification_scores(all_ref, all_pred)
    per_record = {}
    for rec, r, p in zip(test_records, ref, pred, strict=True):
        per_record[rec.name] = {
            "beats": int(len(r)),
            "accuracy": _r(float((r == p).mean()) if len(r) else None),
            **{c: [int(((r == c) & (p == c)).sum()), int((r == c).sum()), int((p == c).sum())] for c in MACRO_CLASSES},
        }
    result.update(
        {
            **scores,
            "calibration": calibration_scores(all_ref, all_proba),
            "records": [r.name for r in test_records],
            "excluded_records": excluded,
            "taxonomy_version": load_beat_mapping(
                Path(mapping_path) if mapping_path is not None else None
            ).taxonomy_version,
            "beats": int(len(all_ref)),
            "per_record": per_record,
            "per_record_legend": "per class: [correct, reference beats, predicted beats]",
            "model": model_info,
            "device": device,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )
    if cv:
        result["folds"] = fold_info
    return result


def confusion_plot(result: Mapping[str, Any], path: Path) -> Path:
    """Write a PNG of the confusion matrix: colour = share of the reference row, text = counts.

    Parameters
    ----------
    result : mapping
        What :func:`evaluate_classification` returns (``confusion``, ``macro_f1``, ``scheme``).
    path : Path
        Output PNG file (parent folders are created).

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(result["confusion"]["labels"])
    matrix = np.asarray(result["confusion"]["matrix"], dtype=np.int64)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{matrix[i, j]}\n{share[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of reference row")
    title = f"macro-F1 {result.get('macro_f1')}  accuracy {result.get('accuracy')}"
    ax.set_title(f"{textwrap.fill(str(result.get('scheme', '')), 60)}\n{title}", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
