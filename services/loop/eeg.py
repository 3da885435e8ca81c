"""The EEG loop steps: recordings -> windows (tasks) -> events (predictions) -> Label Studio -> EDF+/CSV/TSV.

- :func:`ingest_eeg` checks each recording whole (:func:`cliniloop.connectors.sources.eeg.open_eeg`) and
  stores one task per window (default 30 s). A task holds the recording's path, content hash,
  channels and the window's start and stop in seconds, not the samples. A bad recording is
  reported and stores nothing.
- :func:`predict_eeg` scores each whole recording block by block (bounded memory,
  :func:`cliniloop.services.loop.eeg_epochs.score_recording`): seizure probabilities per epoch and channel
  (when a detector is promoted), artifact flags, and sleep stages (YASA) when a suitable EEG
  channel and at least 5 min exist. Epochs of a channel flagged flat or clipped do not vote for a
  seizure. Per window it stores seizure and artifact events and 30-s
  stages as time ranges in seconds from the window start (the event's channels in
  ``attributes["channels"]``). Window uncertainty: the largest over its epochs (roll-up ``eeg`` =
  max) of the binary entropy of the seizure probability rescaled so that the detector's threshold
  maps to 0.5, and of the normalised entropy of the stage probabilities.
- :func:`window_events` maps a window's regions back to seconds of the recording;
  :func:`export_events` writes the events (annotated where a human corrected the window, predicted
  elsewhere) as an annotations-only EDF+ file that ``mne.read_annotations`` reads, a CSV and a
  BIDS-style ``events.tsv``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cliniloop.connectors.label_studio.eeg import CHANNELS_ATTRIBUTE, eeg_label_config, eeg_task_data
from cliniloop.connectors.sources.eeg import EegFileError, EegSource, open_eeg
from cliniloop.connectors.sources.eeg_events import SEIZURE, EegEvent
from cliniloop.models.eeg.sleep import STAGES
from cliniloop.models.sampling.rollup import rollup_for
from cliniloop.models.sampling.scores import binary_entropy, entropy
from cliniloop.services.core.schemas import PredictionIn, TaskIn, TimeRange, regions_from_json
from cliniloop.services.core.store import Store
from cliniloop.services.loop.task_store import store_tasks
from cliniloop.services.quality.labels import training_labels

EEG_MODEL_NAME = "eeg-events"
ARTIFACT = "artifact"
#: Taxonomy version of the event labels (seizure, artifact, AASM stages).
EEG_TAXONOMY_VERSION = "eeg-events-1"
Progress = Callable[[int], None]


@dataclass
class EegIngestReport:
    """What an EEG ingest did."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    errors: list[EegFileError] = field(default_factory=list)
    records: int = 0


def montage_id(channels: Sequence[str]) -> str:
    """Short id of a channel list: windows with the same id share one Label Studio config."""
    return hashlib.sha256("\n".join(channels).encode()).hexdigest()[:8]


def _record_paths(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in {".edf", ".bdf"})


def ingest_eeg(
    store: Store,
    root: Path,
    *,
    channels: Sequence[str] | None = None,
    sampling_rate: float | None = None,
    window_s: float = 30.0,
    progress: Progress | None = None,
) -> EegIngestReport:
    """Store one task per window of every recording under ``root`` (one transaction).

    Parameters
    ----------
    root : Path
        An EDF/EDF+/BDF file, a text segment (with ``sampling_rate``), or a folder searched for EDF/BDF.
    channels : sequence of str, optional
        Channels to show and score (default: every EEG channel). An unknown name rejects the recording.
    sampling_rate : float, optional
        Hz: required for text segments, a check for EDF.
    window_s : float
        Seconds per task.
    """
    report = EegIngestReport()
    tasks: list[TaskIn] = []
    for path in _record_paths(Path(root)):
        try:
            source = open_eeg(path, sampling_rate)
            names = source.pick(channels)
            digest = source.content_hash()
        except EegFileError as err:
            report.errors.append(err)
            continue
        report.records += 1
        montage = montage_id(names)
        starts = np.arange(0.0, source.duration_s, window_s)
        for start in starts:
            stop = min(source.duration_s, float(start) + window_s)
            if stop - start < 1.0:
                continue
            tid = hashlib.sha256(f"{digest}:{montage}:{start:.3f}:{stop:.3f}".encode()).hexdigest()
            data = {
                "record_path": str(source.path.resolve()),
                "record_name": source.name,
                "record_hash": digest,
                "format": source.format,
                "text_sampling_rate": sampling_rate if source.format == "text" else None,
                "sampling_rate": source.sampling_rate,
                "channels": names,
                "montage": montage,
                "start_s": round(float(start), 4),
                "stop_s": round(stop, 4),
                "duration_s": source.duration_s,
            }
            tasks.append(TaskIn(id=tid, modality="eeg", source_uri=source.path.resolve().as_uri(), data=data))
        if progress:
            progress(1)
    store_tasks(store, tasks, report, "eeg", records=report.records)
    return report


def record_key(data: dict[str, Any]) -> str:
    """Key of the recording (and montage) an EEG window task belongs to."""
    return data["record_hash"] + ":" + data["montage"]


def source_of(data: dict[str, Any]) -> EegSource:
    """The recording a task's data points to (checked again)."""
    return open_eeg(Path(data["record_path"]), data.get("text_sampling_rate"))


def rescaled(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Probabilities mapped so that ``threshold`` becomes 0.5 (piecewise linear): entropy peaks at the decision."""
    p = np.asarray(proba, dtype=float)
    t = float(np.clip(threshold, 1e-6, 1 - 1e-6))
    return np.where(p < t, p / (2 * t), 0.5 + (p - t) / (2 * (1 - t)))


def artifact_events(starts: np.ndarray, epoch_s: float, flags: dict[str, np.ndarray], channels: Sequence[str]) -> list[EegEvent]:
    """Runs of epochs with any artifact flag, as ``artifact`` events with the channels and kinds flagged."""
    kinds = list(flags)
    any_flag = np.zeros(len(starts), dtype=bool)
    for kind in kinds:
        any_flag |= flags[kind].any(axis=1)
    events: list[EegEvent] = []
    run: list[int] = []
    for i in [*np.flatnonzero(any_flag).tolist(), None]:
        if i is not None and run and starts[i] <= starts[run[-1]] + epoch_s + 1e-9:
            run.append(i)
            continue
        if run:
            on = np.zeros(len(channels), dtype=bool)
            for kind in kinds:
                on |= flags[kind][run].any(axis=0)
            found = tuple(sorted(k for k in kinds if flags[k][run].any()))
            onset, offset = float(starts[run[0]]), float(starts[run[-1]] + epoch_s)
            chans = tuple(c for c, o in zip(channels, on, strict=True) if o)
            events.append(EegEvent(onset, offset - onset, ARTIFACT, chans, None, "prediction", found))
        run = [i] if i is not None else []
    return events


@dataclass
class RecordingPrediction:
    """Everything predicted for one recording, on its own time axis."""

    seizures: list[EegEvent]
    artifacts: list[EegEvent]
    stages: Any | None
    epoch_starts: np.ndarray
    epoch_s: float
    seizure_proba: np.ndarray | None
    threshold: float
    version: str


def predict_recording(
    source: EegSource, channels: Sequence[str], detector: Any | None, *, sleep: bool = True, block_s: float = 300.0,
    progress: Callable[[float], None] | None = None,
) -> RecordingPrediction:  # fmt: skip
    """Seizure events, artifact events and sleep stages of one recording (blocks of ``block_s`` s)."""
    from cliniloop.services.loop.eeg_epochs import score_recording

    scores = score_recording(source, channels, detector, block_s=block_s, progress=progress)
    seizures: list[EegEvent] = []
    top = None
    if detector is not None and scores.proba is not None:
        # a flat or clipped channel says nothing about seizures: its epochs do not vote
        dead = scores.artifacts["flat"] | scores.artifacts["clipping"]
        scores.proba[dead] = 0.0
        top = detector.smooth(scores.proba).max(axis=1) if scores.proba.size else np.zeros(0)
        seizures = [
            EegEvent(e.onset_s, e.offset_s - e.onset_s, SEIZURE, e.channels, round(e.confidence, 4), "prediction")
            for e in detector.merge_events(scores.starts, scores.proba, scores.channels)
        ]
    artifacts = artifact_events(scores.starts, scores.epoch_s, scores.artifacts, scores.channels)
    stages = _stage(source, channels) if sleep else None
    version = prediction_version(source, detector, sleep)
    threshold = float(getattr(detector, "threshold_", 0.5))
    return RecordingPrediction(seizures, artifacts, stages, scores.starts, scores.epoch_s, top, threshold, version)


def _staging_channels(source: EegSource) -> Any | None:
    from cliniloop.models.eeg.sleep import MIN_DURATION_S, staging_channels

    return staging_channels(source.channel_names) if source.duration_s >= MIN_DURATION_S else None


def prediction_version(source: EegSource, detector: Any | None, sleep: bool) -> str:
    """The version a prediction of ``source`` gets: detector, sleep stager (when it applies) and artifact rules.

    Known before any scoring, so recordings whose windows already carry it are not scored again.
    """
    staged = "no-sleep-staging"
    if sleep and _staging_channels(source) is not None:
        import yasa

        staged = f"yasa-{yasa.__version__}"
    return "+".join([getattr(detector, "version", None) or "no-seizure-model", staged, "artifact-rules-1"])


def _stage(source: EegSource, channels: Sequence[str]) -> Any | None:
    from cliniloop.models.eeg.sleep import stage_sleep

    chosen = _staging_channels(source)
    if chosen is None:
        return None
    names = [c for c in (chosen.eeg, chosen.eog, chosen.emg) if c is not None]
    rate = 100.0
    signals = {}
    for name in names:  # one channel at a time: 8 h at 100 Hz is 23 MB per channel
        signals[name] = source.read(0.0, source.duration_s, [name], rate=rate)[:, 0]
    return stage_sleep(signals, rate, chosen)


def _clip(event: EegEvent, start_s: float, stop_s: float) -> tuple[float, float] | None:
    a, b = max(event.onset_s, start_s), min(event.offset_s, stop_s)
    return (a - start_s, b - start_s) if b - a > 1e-6 else None


def window_regions(prediction: RecordingPrediction, start_s: float, stop_s: float) -> tuple[list[TimeRange], float]:
    """A window's regions (s from its start) and its uncertainty."""
    regions: list[TimeRange] = []
    for event in [*prediction.seizures, *prediction.artifacts]:
        span = _clip(event, start_s, stop_s)
        if span is None:
            continue
        attrs: dict[str, Any] = {CHANNELS_ATTRIBUTE: list(event.channels), "onset_s": round(event.onset_s, 3), "offset_s": round(event.offset_s, 3)}
        if event.kinds:
            attrs["kinds"] = list(event.kinds)
        regions.append(TimeRange(label=event.label, start_s=round(span[0], 4), end_s=round(span[1], 4), probability=event.confidence, attributes=attrs))
    parts: list[float] = []
    if prediction.seizure_proba is not None and len(prediction.epoch_starts):
        centre = prediction.epoch_starts + prediction.epoch_s / 2
        inside = (centre >= start_s) & (centre < stop_s)
        if inside.any():
            parts += binary_entropy(rescaled(prediction.seizure_proba[inside], prediction.threshold)).tolist()
    stages = prediction.stages
    if stages is not None:
        for k, s in enumerate(stages.starts):
            span = _clip(EegEvent(float(s), 30.0, stages.stages[k]), start_s, stop_s)
            if span is None:
                continue
            p = stages.proba[k]
            regions.append(
                TimeRange(label=stages.stages[k], start_s=round(span[0], 4), end_s=round(span[1], 4), probability=round(float(p.max()), 4),
                          attributes={"probs": {n: round(float(v), 4) for n, v in zip(STAGES, p, strict=True)}})
            )  # fmt: skip
            parts.append(float(entropy(p[None, :])[0]))
    return regions, rollup_for("eeg", parts)


def predict_eeg(
    store: Store, detector: Any | None, *, sleep: bool = True, block_s: float = 300.0, progress: Progress | None = None,
    failures: list[EegFileError] | None = None,
    records: Collection[str] | None = None,
) -> int:
    """Predict every ingested recording; store one prediction per window. Returns windows given a new prediction.

    A recording that cannot be opened or read any more is skipped and added to ``failures``
    (naming the file); the others are predicted, and a re-run retries only the skipped ones.
    ``records``: only these recordings (keys ``<record_hash>:<montage>``, see :func:`record_key`;
    one shard of a distributed run).
    """
    by_record: dict[str, list[Any]] = {}
    for task in store.list_tasks("eeg"):
        key = record_key(task.data)
        if records is None or key in records:
            by_record.setdefault(key, []).append(task)
    done = store.latest_predictions(EEG_MODEL_NAME)
    written = 0
    for windows in by_record.values():
        data = windows[0].data
        try:
            source = source_of(data)
            version = prediction_version(source, detector, sleep)
            todo = [w for w in windows if done.get(w.id) is None or done[w.id].model_version != version]
            prediction = predict_recording(source, data["channels"], detector, sleep=sleep, block_s=block_s) if todo else None
        except Exception as err:  # noqa: BLE001 - one bad recording must not stop the others
            failure = err if isinstance(err, EegFileError) else EegFileError(Path(data.get("record_path", "?")), f"{type(err).__name__}: {err}")
            if failures is not None:
                failures.append(failure)
            todo, prediction = [], None
        if not todo or prediction is None:
            if progress:
                progress(len(windows))
            continue
        preds = []
        for w in todo:
            regions, u = window_regions(prediction, w.data["start_s"], w.data["stop_s"])
            preds.append(
                PredictionIn(
                    task_id=w.id, model_name=EEG_MODEL_NAME, model_version=prediction.version, taxonomy_version=EEG_TAXONOMY_VERSION,
                    regions=regions, score=1.0 - u, uncertainty=u,
                )
            )  # fmt: skip
        written += store.add_predictions(preds, make_latest=True)
        if progress:
            progress(len(windows))
    return written


def eeg_project_config(channels: Sequence[str]) -> str:
    """The Label Studio config for windows of one montage."""
    return eeg_label_config(channels)


def eeg_window_data(task: Any) -> dict[str, Any]:
    """Label Studio data of an EEG window task (samples read from the recording now)."""
    d = task.data
    source = source_of(d)
    samples = source.read(d["start_s"], d["stop_s"], d["channels"], rate=source.sampling_rate)
    return eeg_task_data(samples, source.sampling_rate, d["channels"], record=d["record_name"], window_start_s=d["start_s"])


def window_events(task: Any, regions: Iterable[Any], source: str = "annotation") -> list[EegEvent]:
    """A window's range regions as events in seconds of the original recording (clipped to the window)."""
    d = task.data
    length = d["stop_s"] - d["start_s"]
    out = []
    for region in regions:
        if getattr(region, "kind", None) != "range":
            continue
        a, b = max(0.0, region.start_s), min(length, region.end_s)
        if b <= a:
            continue
        channels = tuple(region.attributes.get(CHANNELS_ATTRIBUTE) or ())
        out.append(EegEvent(round(d["start_s"] + a, 4), round(b - a, 4), region.label, channels, region.probability, source))
    return out


def merge_pieces(events: list[EegEvent]) -> list[EegEvent]:
    """Join pieces of one event cut at window boundaries (same label and channels, touching)."""
    out: list[EegEvent] = []
    for e in sorted(events, key=lambda e: (e.label, e.channels, e.onset_s)):
        last = out[-1] if out else None
        if last is not None and last.label == e.label and last.channels == e.channels and e.onset_s <= last.offset_s + 1e-3:
            conf = None if last.confidence is None or e.confidence is None else max(last.confidence, e.confidence)
            source = last.source if last.source == e.source else "annotation"
            out[-1] = EegEvent(last.onset_s, round(max(last.offset_s, e.offset_s) - last.onset_s, 4), e.label, e.channels, conf, source)
        else:
            out.append(e)
    return sorted(out, key=lambda e: (e.onset_s, e.label))


def recording_events(store: Store, *, only_corrected: bool = False, labels: Sequence[str] | None = None) -> dict[str, tuple[dict[str, Any], list[EegEvent]]]:
    """Events per recording (key: record hash + montage): annotations where a window was corrected, else predictions."""
    predictions = store.latest_predictions(EEG_MODEL_NAME)
    out: dict[str, tuple[dict[str, Any], list[EegEvent]]] = {}
    task_labels = training_labels(store, "eeg")
    for task in store.list_tasks("eeg"):
        label = task_labels.get(task.id)
        if label is not None:
            events = window_events(task, regions_from_json(label.regions), "annotation")
        elif task.id in task_labels.unresolved:
            continue  # annotators disagree and no reviewer has decided
        elif not only_corrected and task.id in predictions:
            events = window_events(task, regions_from_json(predictions[task.id].regions), "prediction")
        else:
            continue
        if labels is not None:
            events = [e for e in events if e.label in labels]
        key = task.data["record_hash"] + ":" + task.data["montage"]
        out.setdefault(key, (task.data, []))[1].extend(events)
    return {k: (d, merge_pieces(ev)) for k, (d, ev) in out.items()}


def write_edf_annotations(path: Path, events: Sequence[EegEvent]) -> None:
    """An annotations-only EDF+ file (``pyedflib``): ``mne.read_annotations(path)`` reads the events back.

    A description carries the label, then the channels after ``@`` (``seizure@FP1-F7,F7-T7``), as
    EDF+ has no channel field.
    """
    import pyedflib

    writer = pyedflib.EdfWriter(str(path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        for e in events:
            text = e.label + ("@" + ",".join(e.channels) if e.channels else "")
            writer.writeAnnotation(float(e.onset_s), float(e.duration_s), text)
    finally:
        writer.close()


def export_events(store: Store, out_dir: Path, *, only_corrected: bool = False) -> dict[str, int]:
    """Write ``<record>_events.edf`` (EDF+ annotations), ``<record>_events.csv`` and ``<record>_events.tsv`` (BIDS).

    Returns events written per recording.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for data, events in recording_events(store, only_corrected=only_corrected).values():
        name = data["record_name"]
        write_edf_annotations(out_dir / f"{name}_events.edf", events)
        with (out_dir / f"{name}_events.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["recording", "onset_s", "offset_s", "duration_s", "label", "channels", "confidence", "source"])
            for e in events:
                conf = "" if e.confidence is None else round(e.confidence, 4)
                writer.writerow([data["record_name"], round(e.onset_s, 4), round(e.offset_s, 4), round(e.duration_s, 4), e.label, ";".join(e.channels), conf, e.source])
        with (out_dir / f"{name}_events.tsv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["onset", "duration", "trial_type", "channel", "value", "source"])
            for e in events:
                value = "n/a" if e.confidence is None else round(e.confidence, 4)
                writer.writerow([round(e.onset_s, 4), round(e.duration_s, 4), e.label, ";".join(e.channels) or "n/a", value, e.source])
        written[name] = len(events)
    store.audit("cliniloop", "export", "eeg", None, records=len(written), events=sum(written.values()))
    return written
