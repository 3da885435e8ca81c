"""The ECG loop steps: recordings -> windows (tasks) -> beats (predictions) -> Label Studio -> WFDB/CSV.

- :func:`ingest_ecg` checks each recording whole (:func:`cliniloop.connectors.sources.ecg.open_ecg`) and
  stores one task per window (default 10 s of core plus 1 s of context on each side); a bad
  recording is reported and stores nothing. Tasks hold the window's sample range and the record's
  path and content hash, not the samples.
- :func:`predict_ecg` detects beats over each whole recording in chunks (bounded memory), classifies
  them (AAMI N/S/V/F/Q, when a classifier is given) chunk by chunk, and stores per window the beats
  of its core as instant regions (seconds from the window start, sample index in ``attributes``).
  Window uncertainty: ``U = max over beats of H(p)/log 5`` (normalised entropy of the class
  probabilities); a window with a beat predicted S, V, F or Q is lifted to ``0.5 + U/2`` so rare-class
  windows come first. Without a classifier every beat is ``N`` and ``U = 1 - min confidence``.
  **Patient adaptation**: when annotators corrected beats of a recording and the classifier has an
  adaptation embedding (the boosted model), the corrected beats are matched to the detected ones
  (nearest within :data:`MATCH_S`) and a :class:`cliniloop.models.ecg.adapt.PatientAdapter` over them adjusts
  that recording's probabilities; the prediction version gains ``+adapt-<hash of the corrections>``,
  so new corrections re-predict their own recording only, and other recordings keep the base model.
- :func:`ecg_window_data` renders a window for Label Studio; :func:`export_beats` writes the beats
  (human-corrected where annotated, predicted elsewhere) as WFDB annotation files and CSV, in sample
  indices of the original recording.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cliniloop.connectors.label_studio.ecg import ecg_label_config, ecg_task_data
from cliniloop.connectors.sources.ecg import EcgFileError, EcgSource, open_ecg
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TimeInstant, regions_from_json
from cliniloop.services.core.store import Store
from cliniloop.services.loop.task_store import store_tasks
from cliniloop.services.quality.labels import training_labels
from cliniloop.taxonomies.ecg import AAMI_CLASSES, load_beat_mapping

log = logging.getLogger(__name__)

ECG_MODEL_NAME = "ecg-beats"
#: MIT-BIH symbol written for each AAMI class in exported annotation files.
CLASS_SYMBOL = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "Q"}
RARE_CLASSES = frozenset({"S", "V", "F", "Q"})
#: A corrected beat adapts the detected beat nearest to it within this many seconds.
MATCH_S = 0.15
Progress = Callable[[int], None]


class Detector(Protocol):
    """What :func:`predict_ecg` needs of a beat detector (``cliniloop.models.ecg.detect.BeatDetector``)."""

    version: str

    def detect_chunked(self, read: Callable[[int, int], np.ndarray], n_samples: int, sampling_rate: float, **kw: Any) -> Any: ...


def ecg_project_config(mapping_path: Path | None = None) -> str:
    """The ECG project's label config (AAMI classes with their descriptions)."""
    classes = load_beat_mapping(mapping_path).classes
    return ecg_label_config([(c, classes.get(c, c)) for c in AAMI_CLASSES])


@dataclass
class EcgIngestReport:
    """What an ECG ingest did."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    errors: list[EcgFileError] = field(default_factory=list)
    records: int = 0


def window_bounds(n_samples: int, sampling_rate: float, window_s: float, context_s: float) -> list[tuple[int, int, int, int]]:
    """``(start, core_start, core_stop, stop)`` sample bounds of consecutive windows covering a recording."""
    core = max(1, int(round(window_s * sampling_rate)))
    ctx = int(round(context_s * sampling_rate))
    out = []
    for core_start in range(0, n_samples, core):
        core_stop = min(n_samples, core_start + core)
        out.append((max(0, core_start - ctx), core_start, core_stop, min(n_samples, core_stop + ctx)))
    return out


def _record_paths(root: Path) -> list[Path]:
    if root.is_file() or root.with_suffix(".hea").exists():
        return [root]
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".hea", ".edf", ".bdf", ".csv"})
    return found


#: Length (s) of the core of one ECG task window (what an annotator reviews at once).
WINDOW_S = 10.0


def ingest_ecg(
    store: Store,
    root: Path,
    *,
    lead: str | None = None,
    sampling_rate: float | None = None,
    window_s: float = WINDOW_S,
    context_s: float = 1.0,
    progress: Progress | None = None,
) -> EcgIngestReport:
    """Store one task per window of every recording under ``root`` (all in one transaction).

    Parameters
    ----------
    root : Path
        A recording (WFDB record/header, EDF, CSV) or a folder searched recursively.
    lead : str, optional
        Lead shown first and used for detection (default: MLII / II / ... see the reader).
    sampling_rate : float, optional
        Hz, needed for CSV files.
    window_s, context_s : float
        Core window length and context on each side (s).
    """
    report = EcgIngestReport()
    tasks: list[TaskIn] = []
    for path in _record_paths(root):
        try:
            source = open_ecg(path, sampling_rate)
            leads = source.lead_order(lead)
            digest = source.content_hash()
        except EcgFileError as err:
            report.errors.append(err)
            continue
        report.records += 1
        for start, core_start, core_stop, stop in window_bounds(source.n_samples, source.sampling_rate, window_s, context_s):
            tid = hashlib.sha256(f"{digest}:{leads[0]}:{core_start}:{core_stop}".encode()).hexdigest()
            data = {
                "record_path": str(source.path.resolve()),
                "record_name": source.name,
                "record_hash": digest,
                "format": source.format,
                "sampling_rate": source.sampling_rate,
                "csv_sampling_rate": sampling_rate,
                "leads": leads,
                "start": start,
                "core_start": core_start,
                "core_stop": core_stop,
                "stop": stop,
            }
            tasks.append(TaskIn(id=tid, modality="ecg", source_uri=source.path.resolve().as_uri(), data=data))
        if progress:
            progress(1)
    store_tasks(store, tasks, report, "ecg", records=report.records)
    return report


def record_key(data: dict[str, Any]) -> str:
    """Key of the recording (and detection lead) an ECG window task belongs to."""
    return data["record_hash"] + ":" + data["leads"][0]


def _source_of(data: dict[str, Any]) -> EcgSource:
    return open_ecg(Path(data["record_path"]), data.get("csv_sampling_rate"))


def _window_uncertainty(labels: list[str], probs: list[np.ndarray | None], confidence: list[float]) -> float:
    from cliniloop.models.sampling.parts import beat_window_uncertainty

    return beat_window_uncertainty(labels, probs, confidence, RARE_CLASSES)


def predict_ecg(
    store: Store,
    detector: Detector,
    classifier: Any | None = None,
    *,
    chunk_s: float = 300.0,
    progress: Progress | None = None,
    mapping_path: Path | None = None,
    failures: list[EcgFileError] | None = None,
    records: Collection[str] | None = None,
) -> int:
    """Detect and classify the beats of every ingested recording; store one prediction per window.

    ``mapping_path`` names the symbol -> class mapping whose version is recorded (default AAMI EC57).
    A recording that cannot be opened or read (changed, truncated or corrupt since ingest) is
    skipped and added to ``failures`` (naming the file); the other recordings are predicted, and
    a re-run retries only the skipped ones. ``records``: only these recordings (keys
    ``<record_hash>:<lead>``, see :func:`record_key`; one shard of a distributed run).

    Returns
    -------
    int
        Windows given a new prediction.
    """
    mapping = load_beat_mapping(mapping_path)
    version = f"{detector.version}+{getattr(classifier, 'version', None) or 'unclassified'}"
    by_record: dict[str, list[Any]] = {}
    for task in store.list_tasks("ecg"):
        key = record_key(task.data)
        if records is None or key in records:
            by_record.setdefault(key, []).append(task)
    done = store.latest_predictions(ECG_MODEL_NAME)
    adaptable = classifier is not None and hasattr(classifier, "embedding")
    corrections = record_corrections(store) if adaptable else {}
    written = 0
    for key, windows in by_record.items():
        fixes = corrections.get(key, [])
        record_version = version
        if fixes:
            record_version += "+adapt-" + hashlib.sha256(repr(sorted(fixes)).encode()).hexdigest()[:10]
        todo = [w for w in windows if done.get(w.id) is None or done[w.id].model_version != record_version]
        if not todo:
            continue
        data = windows[0].data
        try:
            source = _source_of(data)
            leads = data["leads"]
            fs = source.sampling_rate
            # every lead votes (chosen lead first: beat positions follow it)
            beats = detector.detect_chunked(lambda a, b: source.read(a, b, leads), source.n_samples, fs, chunk_s=chunk_s)
            samples = np.asarray(beats.samples, dtype=np.int64)
            conf = np.asarray(beats.confidence, dtype=float)
            probs = None
            if classifier is not None:
                probs, emb = _classify_chunked(classifier, source, leads, samples, chunk_s)
                if fixes and emb is not None:
                    probs = adapt_to_corrections(probs, emb, samples, fixes, fs)
        except Exception as err:  # noqa: BLE001 - one bad recording must not stop the others
            failure = err if isinstance(err, EcgFileError) else EcgFileError(Path(data["record_path"]), f"{type(err).__name__}: {err}")
            log.warning("ECG predict skipped %s", failure)
            if failures is not None:
                failures.append(failure)
            if progress:
                progress(len(windows))
            continue
        preds = []
        for w in todo:
            d = w.data
            inside = np.flatnonzero((samples >= d["core_start"]) & (samples < d["core_stop"]))
            regions, labels, beat_probs, confs = [], [], [], []
            for i in inside:
                p = probs[i] if probs is not None else None
                label = _decide(classifier, p) if p is not None else "N"
                attrs: dict[str, Any] = {"sample": int(samples[i]), "confidence": round(float(conf[i]), 4)}
                if p is not None:
                    attrs["probs"] = {c: round(float(v), 4) for c, v in zip(AAMI_CLASSES, p, strict=True)}
                probability = float(p.max()) if p is not None else float(conf[i])
                regions.append(TimeInstant(label=label, time_s=(int(samples[i]) - d["start"]) / fs, probability=probability, attributes=attrs))
                labels.append(label)
                beat_probs.append(p)
                confs.append(float(conf[i]))
            u = _window_uncertainty(labels, beat_probs, confs)
            preds.append(
                PredictionIn(
                    task_id=w.id,
                    model_name=ECG_MODEL_NAME,
                    model_version=record_version,
                    taxonomy_version=mapping.taxonomy_version,
                    regions=regions,
                    score=1.0 - u,
                    uncertainty=u,
                )
            )
        written += store.add_predictions(preds, make_latest=True)
        if progress:
            progress(len(windows))
    return written


def _decide(classifier: Any, p: np.ndarray) -> str:
    """A beat's class: the classifier's per-class thresholds when it has them, else the arg-max."""
    if hasattr(classifier, "decide"):
        return str(classifier.decide(p[None, :])[0])
    return AAMI_CLASSES[int(np.argmax(p))]


def record_corrections(store: Store) -> dict[str, list[tuple[int, str]]]:
    """Annotators' ``(sample, class)`` beats per recording key (record hash + first lead)."""
    labels = training_labels(store, "ecg")
    out: dict[str, list[tuple[int, str]]] = {}
    for task in store.list_tasks("ecg"):
        label = labels.get(task.id)
        if label is None:
            continue
        key = task.data["record_hash"] + ":" + task.data["leads"][0]
        out.setdefault(key, []).extend(window_beats(task, regions_from_json(label.regions)))
    return out


def adapt_to_corrections(
    proba: np.ndarray, embedding: np.ndarray, samples: np.ndarray, corrections: list[tuple[int, str]], sampling_rate: float
) -> np.ndarray:
    """Probabilities of a recording's detected beats adapted to its corrected beats (module docstring).

    Parameters
    ----------
    proba : np.ndarray
        ``(n, 5)`` base probabilities of the detected beats.
    embedding : np.ndarray
        ``(n, d)`` adaptation embedding of the detected beats.
    samples : np.ndarray
        ``(n,)`` detected beat samples, ascending.
    corrections : list of (int, str)
        Corrected beats (sample, AAMI class); those with no detected beat within :data:`MATCH_S` are skipped.
    sampling_rate : float
        Hz.
    """
    from cliniloop.models.ecg.adapt import PatientAdapter

    if not len(samples) or not corrections:
        return proba
    idx, cls = [], []
    for sample, label in corrections:
        j = int(np.clip(np.searchsorted(samples, sample), 1, len(samples) - 1)) if len(samples) > 1 else 0
        j = j - 1 if j > 0 and abs(samples[j - 1] - sample) <= abs(samples[j] - sample) else j
        if abs(int(samples[j]) - sample) <= MATCH_S * sampling_rate and label in AAMI_CLASSES:
            idx.append(j)
            cls.append(label)
    if not idx:
        return proba
    return PatientAdapter().fit(embedding[idx], np.asarray(cls)).adjust(embedding, proba)


def _classify_chunked(
    classifier: Any, source: EcgSource, leads: list[str], samples: np.ndarray, chunk_s: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities of every beat (and the adaptation embedding when the classifier has one), chunk by chunk."""
    from cliniloop.models.ecg.classify import RecordBeats

    fs = source.sampling_rate
    out = np.zeros((len(samples), len(AAMI_CLASSES)))
    emb: np.ndarray | None = None
    chunk = int(chunk_s * fs)
    margin = int(2 * fs)
    use = leads[:2]
    for start in range(0, source.n_samples, chunk):
        stop = min(source.n_samples, start + chunk)
        idx = np.flatnonzero((samples >= start) & (samples < stop))
        if not len(idx):
            continue
        a, b = max(0, start - margin), min(source.n_samples, stop + margin)
        signal = source.read(a, b, use)
        rec = RecordBeats(name=source.name, signal=signal, sampling_rate=fs, samples=samples[idx] - a, labels=None)
        if hasattr(classifier, "embedding"):
            X = classifier.features(rec)
            out[idx] = classifier.proba_from_features(X)
            e = classifier.embedding(X)
            if emb is None:
                emb = np.zeros((len(samples), e.shape[1]), np.float32)
            emb[idx] = e
        else:
            out[idx] = classifier.predict_proba(rec)
    return out, emb


def ecg_window_data(task: Any) -> dict[str, Any]:
    """Label Studio data of an ECG window task (samples read from the recording now)."""
    d = task.data
    source = _source_of(d)
    samples = source.read(d["start"], d["stop"], d["leads"][:2])
    return ecg_task_data(samples, source.sampling_rate, d["leads"], record=d["record_name"], window_start_s=d["start"] / source.sampling_rate)


def window_beats(task: Any, regions: Iterable[Any]) -> list[tuple[int, str]]:
    """``(sample, class)`` of a window's beats in the original recording (core of the window only)."""
    d = task.data
    fs = d["sampling_rate"]
    out = []
    for region in regions:
        if getattr(region, "kind", None) != "instant":
            continue
        sample = int(round(d["start"] + region.time_s * fs))
        if d["core_start"] <= sample < d["core_stop"]:
            out.append((sample, region.label))
    return out


def export_beats(store: Store, out_dir: Path, *, extension: str = "cliniloop", only_corrected: bool = False) -> dict[str, int]:
    """Write each recording's beats as ``<record>.<extension>`` (``wfdb.wrann``) and ``<record>_beats.csv``.

    Beats come from the newest human annotation of a window where there is one, else from the newest
    prediction (unless ``only_corrected``). Returns beats written per record.
    """
    import wfdb

    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = store.latest_predictions(ECG_MODEL_NAME)
    by_record: dict[str, list[tuple[int, str, str]]] = {}
    names: dict[str, tuple[str, float]] = {}
    labels = training_labels(store, "ecg")
    for task in store.list_tasks("ecg"):
        label = labels.get(task.id)
        if label is not None:
            beats = [(s, c, "annotation") for s, c in window_beats(task, regions_from_json(label.regions))]
        elif task.id in labels.unresolved:
            continue  # annotators disagree and no reviewer has decided: no beats to export
        elif not only_corrected and task.id in predictions:
            beats = [(s, c, "prediction") for s, c in window_beats(task, regions_from_json(predictions[task.id].regions))]
        else:
            continue
        key = task.data["record_name"]
        names[key] = (task.data["record_name"], task.data["sampling_rate"])
        by_record.setdefault(key, []).extend(beats)
    written = {}
    for key, beats in by_record.items():
        beats.sort()
        name, fs = names[key]
        if beats:
            wfdb.wrann(
                name,
                extension,
                np.array([b[0] for b in beats], dtype=np.int64),
                symbol=[CLASS_SYMBOL.get(b[1], "Q") for b in beats],
                fs=fs,
                write_dir=str(out_dir),
            )
        with (out_dir / f"{name}_beats.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sample", "time_s", "aami_class", "mitbih_symbol", "source"])
            for sample, cls, src in beats:
                writer.writerow([sample, round(sample / fs, 4), cls, CLASS_SYMBOL.get(cls, "Q"), src])
        written[name] = len(beats)
    store.audit("cliniloop", "export", "ecg", None, records=len(written), beats=sum(written.values()))
    return written
