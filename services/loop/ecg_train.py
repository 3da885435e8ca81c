"""Train the ECG beat classifier from reference recordings plus beats corrected in Label Studio.

A version is written to the model registry (``ecg-beat-classifier``), registered in the store
and promoted (the pointer :func:`load_ecg_classifier` follows). Corrections are the beats of every
annotated ECG window (the newest annotation per window), classified by the annotator; they are
added to the reference beats of the training records, and training starts from the promoted
version's weights when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from connectors.sources.ecg import open_ecg
from services.core.schemas import regions_from_json
from services.core.settings import Settings
from services.core.store import Store
from services.loop.loaders import ECG_CLASSIFIER as CLASSIFIER_NAME
from services.loop.loaders import load_ecg_classifier  # noqa: F401 (the CLI and tests import it from here)
from services.loop.promoted import register_and_promote
from services.loop.ecg import window_beats
from services.quality.labels import training_labels
from taxonomies.ecg import PACED_RECORDS, load_beat_mapping



def reference_records(
    folder: Path, records: Sequence[str] | None = None, include_paced: bool = False, mapping_path: Path | None = None
) -> list[Any]:
    """``RecordBeats`` of a WFDB folder with reference labels (``RECORDS`` file by default; paced records left out).

    Raises
    ------
    ValueError
        When the folder, its ``RECORDS`` file or a record's files are missing (naming the path).
    """
    from services.loop.ecg_records import read_annotated_record, read_record_list

    names = list(records) if records is not None else read_record_list(folder)
    return [
        read_annotated_record(folder, name, mapping_path) for name in names if include_paced or name not in PACED_RECORDS
    ]


def corrected_records(store: Store) -> list[Any]:
    """``RecordBeats`` of every recording with annotated windows: the annotators' beats only."""
    from models.ecg.classify import RecordBeats

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


def train_ecg_classifier(
    store: Store,
    settings: Settings,
    wfdb_dirs: Sequence[Path],
    *,
    epochs: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    model: str = "gbm",
) -> dict[str, Any]:
    """Train, register and promote a version.

    ``model="gbm"`` (default) trains :class:`~models.ecg.boosted.BoostedBeatClassifier` afresh on
    the reference records plus the corrected beats (a few minutes on DS1); ``model="cnn"`` trains
    :class:`~models.ecg.classify.BeatClassifier`, from the promoted CNN's weights when there is
    one. Corrected beats also adapt predictions of their own recording at predict time
    (:func:`services.loop.ecg.predict_ecg`), with no retraining.
    """
    from models.ecg.classify import BeatClassifier

    records = [r for folder in wfdb_dirs for r in reference_records(folder, mapping_path=settings.ecg_beat_mapping)]
    corrections = corrected_records(store)
    if not records and not corrections:
        raise ValueError("nothing to train on: give --wfdb-dir with reference records, or correct beats in Label Studio first")
    if progress:
        progress(f"training on {len(records)} reference records and {len(corrections)} corrected recordings")
    current = load_ecg_classifier(store, settings)
    if model == "cnn":
        params: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
        parent = current if isinstance(current, BeatClassifier) else None
        clf: Any = BeatClassifier(**params).fit([*records, *corrections], init_from=parent)
    elif model == "gbm":
        from models.ecg.boosted import BoostedBeatClassifier

        params = {"seed": seed}
        clf = BoostedBeatClassifier(**params).fit([*records, *corrections])
    else:
        raise ValueError(f"model {model!r}: choose gbm or cnn")
    n_beats = sum(len(r.samples) for r in [*records, *corrections])
    meta = {
        "version": clf.version,
        "model": model,
        "parent": current.version if current is not None else None,
        "label_count": n_beats,
        "taxonomy_version": load_beat_mapping(settings.ecg_beat_mapping).taxonomy_version,
        "params": params,
        "training_records": [r.name for r in records],
        "corrected_records": [r.name for r in corrections],
    }
    register_and_promote(
        store, settings.resolved_models_dir, CLASSIFIER_NAME, clf, meta, label_count=n_beats, reason="ecg train",
        beats=n_beats, corrected_records=len(corrections),
    )  # fmt: skip
    return {"version": clf.version, "beats": n_beats, "records": len(records), "corrected_records": len(corrections)}
