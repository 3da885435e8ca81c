"""Train the ECG beat classifier from reference recordings plus beats corrected in Label Studio.

A version is written to the model registry (``ecg-beat-classifier``) and registered in the store;
it is promoted (the pointer :func:`load_ecg_classifier` follows) only when its macro-F1 on the fixed,
record-grouped dev split is not worse than the promoted version's, or than the cold start (every
beat N) when nothing is promoted (:mod:`cliniloop.services.loop.promotion`). Corrections are the beats of every
annotated ECG window (the newest annotation per window), classified by the annotator; they are
added to the reference beats of the training records, and the CNN starts from the promoted
version's weights when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.sources.ecg import open_ecg
from cliniloop.services.core.schemas import regions_from_json
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.loaders import ECG_CLASSIFIER as CLASSIFIER_NAME
from cliniloop.services.loop.loaders import load_ecg_classifier  # noqa: F401 (the CLI and tests import it from here)
from cliniloop.services.loop.promotion import DEV_MODULUS, ECG, TrainResult, baseline_label, is_dev_group, register_and_decide
from cliniloop.services.loop.ecg import window_beats
from cliniloop.services.quality.labels import training_labels
from cliniloop.taxonomies.ecg import PACED_RECORDS, load_beat_mapping



def reference_records(
    folder: Path, records: Sequence[str] | None = None, include_paced: bool = False, mapping_path: Path | None = None
) -> list[Any]:
    """``RecordBeats`` of a WFDB folder with reference labels (``RECORDS`` file by default; paced records left out).

    Raises
    ------
    ValueError
        When the folder, its ``RECORDS`` file or a record's files are missing (naming the path).
    """
    from cliniloop.services.loop.ecg_records import read_annotated_record, read_record_list

    names = list(records) if records is not None else read_record_list(folder)
    return [
        read_annotated_record(folder, name, mapping_path) for name in names if include_paced or name not in PACED_RECORDS
    ]


def corrected_records(store: Store) -> list[Any]:
    """``RecordBeats`` of every recording with annotated windows: the annotators' beats only."""
    from cliniloop.models.ecg.classify import RecordBeats

    beats: dict[str, list[tuple[int, str]]] = {}
    tasks: dict[str, Any] = {}
    labels = training_labels(store, "ecg")
    for task in store.list_tasks("ecg"):
        label = labels.get(task.id)
        if label is None:
            continue
        key = task.data["record_path"]
        tasks[key] = task
        beats.setdefault(key, []).extend(window_beats(task, regions_from_json(label.regions)))
    out = []
    for key, items in beats.items():
        if not items:
            continue
        data = tasks[key].data
        source = open_ecg(Path(data["record_path"]), data.get("csv_sampling_rate"))
        items.sort()
        signal = source.read(0, source.n_samples, data["leads"][:2])
        out.append(
            RecordBeats(
                name=data["record_name"],
                signal=signal,
                sampling_rate=source.sampling_rate,
                samples=np.array([s for s, _ in items], dtype=np.int64),
                labels=np.array([c for _, c in items]),
            )
        )
    return out


def split_records(records: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``(train, dev)``: a record is in the fixed dev split when :func:`~cliniloop.services.loop.promotion.is_dev_group` of its name.

    Grouped by recording: all beats of one record (reference beats and annotators' corrections
    alike, matched by record name) are on one side.
    """
    train, dev = [], []
    for r in records:
        (dev if is_dev_group(str(r.name)) else train).append(r)
    return train, dev


def dev_macro_f1(classifier: Any | None, records: Sequence[Any]) -> float | None:
    """Macro-F1 over N, S, V, F of ``classifier`` on the beats of ``records``; ``None`` without beats.

    ``classifier=None`` scores the cold start, which calls every beat N (what ``ecg predict`` does
    without a trained classifier).
    """
    from cliniloop.models.ecg.metrics import classification_scores

    ref = [np.asarray(r.labels) for r in records if len(r.samples)]
    if not ref or not sum(len(x) for x in ref):
        return None
    if classifier is None:
        pred = [np.full(len(x), "N") for x in ref]
    else:
        pred = [np.asarray(classifier.predict(r)) for r in records if len(r.samples)]
    return float(classification_scores(np.concatenate(ref), np.concatenate(pred))["macro_f1"])


def train_ecg_classifier(
    store: Store,
    settings: Settings,
    wfdb_dirs: Sequence[Path],
    *,
    epochs: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    model: str = "gbm",
    params: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a version on the training records, register it, promote it when its dev macro-F1 is not worse.

    ``model="gbm"`` (default) trains :class:`~cliniloop.models.ecg.boosted.BoostedBeatClassifier` afresh on
    the reference records plus the corrected beats (a few minutes on DS1); ``model="cnn"`` trains
    :class:`~cliniloop.models.ecg.classify.BeatClassifier`, from the promoted CNN's weights when there is
    one. Corrected beats also adapt predictions of their own recording at predict time
    (:func:`cliniloop.services.loop.ecg.predict_ecg`), with no retraining.

    The records of the fixed dev split (:func:`split_records`) are never trained on; the new
    version's macro-F1 on them is compared with the promoted version's, or with the cold start
    (every beat N) when nothing is promoted (:mod:`cliniloop.services.loop.promotion`). ``params`` are extra
    classifier arguments (e.g. ``{"n_estimators": 20}``).

    Raises
    ------
    ValueError
        When there is nothing to train on (outside the dev split).
    """
    from cliniloop.models.ecg.classify import BeatClassifier

    records = [r for folder in wfdb_dirs for r in reference_records(folder, mapping_path=settings.ecg_beat_mapping)]
    corrections = corrected_records(store)
    if not records and not corrections:
        raise ValueError("nothing to train on: give --wfdb-dir with reference records, or correct beats in Label Studio first")
    train, dev = split_records([*records, *corrections])
    if not train:
        raise ValueError(f"all {len(dev)} recordings are in the dev split: give more records (or correct beats of another recording)")
    if progress:
        progress(
            f"training on {len(records)} reference records and {len(corrections)} corrected recordings "
            f"({len(dev)} recording(s) held out as the dev split)"
        )
    current = load_ecg_classifier(store, settings)
    extra = dict(params or {})
    if model == "cnn":
        clf_params: dict[str, Any] = {"seed": seed, **extra} | ({"epochs": epochs} if epochs else {})
        parent = current if isinstance(current, BeatClassifier) else None
        clf: Any = BeatClassifier(**clf_params).fit(train, init_from=parent)
    elif model == "gbm":
        from cliniloop.models.ecg.boosted import BoostedBeatClassifier

        clf_params = {"seed": seed, **extra}
        clf = BoostedBeatClassifier(**clf_params).fit(train)
    else:
        raise ValueError(f"model {model!r}: choose gbm or cnn")
    n_beats = sum(len(r.samples) for r in train)
    dev_beats = sum(len(r.samples) for r in dev)
    if progress:
        progress(f"evaluating on {len(dev)} dev recording(s), {dev_beats} beats")
    new = dev_macro_f1(clf, dev)
    base = dev_macro_f1(current, dev)
    meta = {
        "model": model,
        "parent": current.version if current is not None else None,
        "taxonomy_version": load_beat_mapping(settings.ecg_beat_mapping).taxonomy_version,
        "params": clf_params,
        "training_records": [r.name for r in records if not is_dev_group(str(r.name))],
        "corrected_records": [r.name for r in corrections],
        "dev_modulus": DEV_MODULUS,
    }
    return register_and_decide(
        store, settings, modality=ECG, model_name=CLASSIFIER_NAME, model=clf, meta=meta, metric_name="macro_f1",
        metric=new, baseline=base, baseline_label=baseline_label(current.version if current is not None else None, "rule (every beat N)"),
        dev_size=f"{len(dev)} dev recording(s), {dev_beats} beats", label_count=n_beats,
        metrics={"dev_records": len(dev), "dev_beats": dev_beats}, beats=n_beats, corrected_records=len(corrections),
    )  # fmt: skip
