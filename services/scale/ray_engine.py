"""Batch ingest and prediction on Ray: long-lived actors that load each model once and write to the store.

:class:`RayPool` starts (or joins) Ray and ``workers`` :class:`LoopWorker` actors. The driver
splits a step into shards (note files, recordings, task ids) and hands them to the actors through
an actor pool; each actor runs the very function the single-process engine runs on its shard
(:func:`cliniloop.services.loop.ingest.ingest_notes`, :func:`cliniloop.services.loop.predict.predict_tasks`,
:func:`cliniloop.services.loop.ecg.predict_ecg`, ...) and writes to the store itself. Only counts, ids and
file errors come back to the driver.

Nothing is lost or done twice:

* writes are idempotent: a task id is a content hash (a keyed hash of a note's text, a hash of a
  recording's content and window) and a prediction is unique per (task, model, version), so a
  shard that runs again finds its work stored and skips it;
* actors are restarted by Ray when their process dies, and the shard they were running is
  retried on the new process (up to :data:`WORKER_RESTARTS` times); a shard's writes are one
  transaction per call (ingest) or per batch (predict), so a killed shard leaves whole batches;
* a driver killed and run again re-plans from the store: what was stored is skipped;
* two shards that race on one row (e.g. the same note twice, or the model version registered at
  the end of every predict shard) meet a unique constraint; the loser re-runs its call, which
  then finds the row (see :meth:`LoopWorker._retrying`).

Files (notes, recordings, images, model artifacts) are read by the workers: on a multi-machine
cluster they must be on storage every node sees at the same path. The de-identification key is
resolved once by the driver and given to the actors, so every node draws the same task ids and
surrogates.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cliniloop.services.scale.engine import EngineOptions, start_ray

if TYPE_CHECKING:
    from cliniloop.services.core.settings import Settings
    from cliniloop.services.core.store import Store

log = logging.getLogger(__name__)

#: Notes per shard of a text ingest or predict (a shard is one call on one actor).
TEXT_SHARD = 64
#: Calls a worker repeats when a write meets a concurrent one (unique constraint, locked SQLite).
WRITE_ATTEMPTS = 5
#: Times Ray restarts a dead worker and retries the shard it was running; a shard that kills its
#: worker every time (e.g. out of memory) then fails the command, and a re-run resumes after it.
WORKER_RESTARTS = 3
Progress = Callable[[int], None]


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return round(r.ru_utime + r.ru_stime, 3)


def shards(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` cut into consecutive lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


class LoopWorker:
    """A Ray actor: one store connection, the models loaded once, shard by shard.

    Parameters
    ----------
    settings : Settings
        The driver's settings (the actor never reads its own environment for them).
    database_url : str
        The store every worker writes to.
    deid_secret : bytes or None
        The driver's de-identification key (text ingest only).
    """

    def __init__(self, settings: Settings, database_url: str, deid_secret: bytes | None = None) -> None:
        from cliniloop.services.core.private import private_umask
        from cliniloop.services.core.store import Store

        private_umask()
        self.settings = settings
        self.store = Store(database_url)
        self.deid_secret = deid_secret
        self._models: dict[Any, Any] = {}
        self.calls = 0

    # -- bookkeeping ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """This actor's process id, host, peak memory (MiB) and CPU time used (s)."""
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "peak_rss_mb": peak_rss_mb(), "cpu_s": cpu_s(), "calls": self.calls}

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """Run ``call``; when a write meets a concurrent one (integrity error, locked database), run it again."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        self.calls += 1
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return call()
            except (IntegrityError, OperationalError) as err:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                log.info("write met a concurrent one (%s); again", type(err).__name__)
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _model(self, key: Any, load: Callable[[], Any]) -> Any:
        if key not in self._models:
            self._models[key] = load()
        return self._models[key]

    # -- text -----------------------------------------------------------------------------------
    def _deidentifier(self) -> Any:
        from cliniloop.services.loop.deid import NoteDeidentifier, detector_from_settings

        def load() -> Any:
            if self.deid_secret is None:
                raise ValueError("a text ingest needs the driver's de-identification key")
            s = self.settings
            return NoteDeidentifier(detector_from_settings(s), self.deid_secret, s.deid_patient_from, deny_scope=s.label_studio_project)

        return self._model("deid", load)

    def ingest_notes(self, root: str, paths: list[str], keep_original: bool) -> dict[str, Any]:
        """De-identify and store one shard of note files (:func:`cliniloop.services.loop.ingest.ingest_notes`)."""
        from cliniloop.services.loop.ingest import ingest_notes

        deid = self._deidentifier()
        report = self._retrying(
            lambda: ingest_notes(
                self.store, Path(root), self.settings.max_note_bytes, deid, keep_original=keep_original, paths=[Path(p) for p in paths]
            )
        )
        return {
            "added": report.added, "existing": report.existing, "identifiers": report.identifiers, "detector": report.detector,
            "errors": [(str(e.path), e.reason) for e in report.errors], "pid": os.getpid(), "n": len(paths),
        }  # fmt: skip

    def predict_text(self, task_ids: list[str], ner_version: str | None, batch_size: int) -> dict[str, Any]:
        """Predict one shard of text tasks (:func:`cliniloop.services.loop.predict.predict_tasks`)."""
        from cliniloop.services.loop.predict import load_text_model, predict_tasks

        from cliniloop.services.loop.predict import TEXT_MODEL_NAME

        model = self._model(("text", ner_version), lambda: load_text_model(self.store, self.settings, ner_version))
        # counted against what was stored before the first attempt: an attempt that stored its
        # predictions and then met a concurrent write is run again, and finds them stored
        already = sum(p.model_version == model.version for p in self.store.latest_predictions(TEXT_MODEL_NAME, task_ids).values())
        r = self._retrying(lambda: predict_tasks(self.store, model, task_ids=task_ids, batch_size=batch_size))
        predicted = r.predicted + r.already_predicted - already
        return {"model_version": r.model_version, "predicted": predicted, "already": already, "failed": r.failed,
                "pid": os.getpid(), "n": len(task_ids)}  # fmt: skip

    # -- signals and images -----------------------------------------------------------------------
    def ingest_records(self, modality: str, paths: list[str], options: dict[str, Any]) -> dict[str, Any]:
        """Store the windows (frames) of one shard of ECG, EEG or image files, one file per transaction."""
        from cliniloop.services.loop.ecg import ingest_ecg
        from cliniloop.services.loop.eeg import ingest_eeg
        from cliniloop.services.loop.image import ingest_images

        ingest = {"ecg": ingest_ecg, "eeg": ingest_eeg, "image": ingest_images}[modality]
        out: dict[str, Any] = {"added": [], "existing": [], "errors": [], "records": 0, "pid": os.getpid(), "n": len(paths)}
        for path in paths:
            report = self._retrying(lambda p=path: ingest(self.store, Path(p), **options))
            out["added"] += report.added
            out["existing"] += report.existing
            out["errors"] += [(str(e.path), e.reason) for e in report.errors]
            out["records"] += getattr(report, "records", getattr(report, "files", 0))
        return out

    def predict_ecg(self, records: list[str], chunk_s: float, mapping_path: str | None) -> dict[str, Any]:
        """Detect and classify the beats of one shard of recordings (:func:`cliniloop.services.loop.ecg.predict_ecg`)."""
        from cliniloop.models.ecg.detect import BeatDetector
        from cliniloop.services.loop.ecg import predict_ecg
        from cliniloop.services.loop.first_round import ecg_classifier

        detector = self._model("ecg-detector", lambda: BeatDetector().fit())
        # as `cliniloop ecg predict`: the promoted classifier, else the default shipped with cliniloop
        classifier = self._model("ecg-classifier", lambda: ecg_classifier(self.store, self.settings)[0])
        failures: list[Any] = []

        def call() -> int:
            failures.clear()
            return predict_ecg(self.store, detector, classifier, chunk_s=chunk_s, mapping_path=Path(mapping_path) if mapping_path else None,
                               failures=failures, records=set(records))  # fmt: skip

        n = self._retrying(call)
        return {"predicted": n, "errors": [(str(e.path), e.reason) for e in failures], "pid": os.getpid(), "n": len(records)}

    def predict_eeg(self, records: list[str], sleep: bool, block_s: float) -> dict[str, Any]:
        """Predict one shard of EEG recordings (:func:`cliniloop.services.loop.eeg.predict_eeg`)."""
        from cliniloop.services.loop.eeg import predict_eeg
        from cliniloop.services.loop.first_round import eeg_detector

        detector = self._model("eeg-detector", lambda: eeg_detector(self.store, self.settings)[0])  # promoted, else the default
        failures: list[Any] = []

        def call() -> int:
            failures.clear()
            return predict_eeg(self.store, detector, sleep=sleep, block_s=block_s, failures=failures, records=set(records))

        n = self._retrying(call)
        return {"predicted": n, "errors": [(str(e.path), e.reason) for e in failures], "pid": os.getpid(), "n": len(records)}

    def predict_images(self, task_ids: list[str]) -> dict[str, Any]:
        """Propose regions on one shard of image tasks (:func:`cliniloop.services.loop.image.predict_images`)."""
        from cliniloop.services.loop.image import load_image_models, predict_images

        models = self._model("image", lambda: load_image_models(self.store, self.settings.resolved_models_dir))
        n, errors = self._retrying(lambda: predict_images(self.store, models, task_ids=task_ids))
        return {"predicted": n, "errors": [(str(e.path), e.reason) for e in errors], "pid": os.getpid(), "n": len(task_ids)}


@dataclass
class PoolStats:
    """What starting the pool cost and what its workers used."""

    ray_start_s: float = 0.0
    actors_ready_s: float = 0.0
    workers: int = 0
    gpus_per_worker: float = 0.0
    #: ``pid -> peak RSS (MiB)`` of every worker process seen (restarted ones included).
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    #: ``pid -> CPU seconds`` used by every worker process seen (last figure asked).
    cpu_s: dict[int, float] = field(default_factory=dict)


class RayPool:
    """``workers`` :class:`LoopWorker` actors on a local or joined Ray, and the shards given to them.

    Parameters
    ----------
    settings : Settings
        Passed to every actor.
    database_url : str
        The store (refused when SQLite and the cluster spans machines).
    options : EngineOptions
        ``--address`` and ``--workers``.
    deid_secret : bytes, optional
        The de-identification key (needed for text ingest).
    use_gpu : bool
        Give each actor a share of a GPU when the cluster has GPUs (torch models).

    Raises
    ------
    cliniloop.services.scale.engine.EngineError
        When Ray cannot start or the store cannot be shared by the cluster.
    """

    def __init__(
        self, settings: Settings, database_url: str, options: EngineOptions, *, deid_secret: bytes | None = None, use_gpu: bool = False
    ) -> None:
        self.stats = PoolStats(ray_start_s=round(start_ray(options.address, options.workers, database_url), 3))
        import ray

        started = time.perf_counter()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = options.workers or max(1, cpus)
        gpus = float(ray.cluster_resources().get("GPU", 0.0)) if use_gpu else 0.0
        per_gpu = min(1.0, gpus / n) if gpus else 0.0
        actor = ray.remote(LoopWorker).options(  # type: ignore[attr-defined]
            num_cpus=1, num_gpus=per_gpu, max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS, max_concurrency=1
        )
        self.actors = [actor.remote(settings, database_url, deid_secret) for _ in range(n)]
        infos = ray.get([a.info.remote() for a in self.actors])
        self.stats.actors_ready_s = round(time.perf_counter() - started, 3)
        self.stats.workers, self.stats.gpus_per_worker = n, per_gpu
        self._note(infos)

    def _note(self, infos: Iterable[dict[str, Any]]) -> None:
        for i in infos:
            self.stats.peak_rss_mb[i["pid"]] = max(self.stats.peak_rss_mb.get(i["pid"], 0.0), i["peak_rss_mb"])
            self.stats.cpu_s[i["pid"]] = max(self.stats.cpu_s.get(i["pid"], 0.0), i["cpu_s"])

    def pids(self) -> list[int]:
        """Process ids of the actors now (each call asks them)."""
        import ray

        infos = ray.get([a.info.remote() for a in self.actors])
        self._note(infos)
        return [i["pid"] for i in infos]

    def map(
        self,
        method: str,
        calls: Sequence[tuple[Any, ...]],
        progress: Progress | None = None,
        on_result: Callable[[RayPool, dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Run ``actor.method(*args)`` for every ``args`` in ``calls``, spread over the actors; results as they finish.

        ``progress`` gets each result's ``n`` (items of its shard); ``on_result`` sees each result
        (tests use it to kill a worker mid-batch). A shard whose actor dies is retried by Ray on
        the restarted actor.
        """
        from ray.util import ActorPool

        if not calls:
            return []
        pool = ActorPool(self.actors)
        out = []
        for result in pool.map_unordered(lambda a, args: getattr(a, method).remote(*args), list(calls)):
            out.append(result)
            if progress:
                progress(int(result.get("n", 1)))
            if on_result is not None:
                on_result(self, result)
        return out

    def worker_peak_rss_mb(self) -> dict[int, float]:
        """Peak RSS (MiB) of every worker process seen, asked of the live ones now."""
        import ray

        try:
            self._note(ray.get([a.info.remote() for a in self.actors], timeout=30))
        except Exception:  # noqa: BLE001 - a figure for a report, not worth failing over
            log.debug("could not ask the workers for their memory", exc_info=True)
        return dict(self.stats.peak_rss_mb)

    def close(self) -> None:
        """Stop the actors (Ray itself stays up for the rest of this process)."""
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors = []

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()


# -- driver side: plan shards, run them, gather the reports of the single-process engine ---------
def text_task_ids(store: Store) -> list[str]:
    """Ids of every stored text task, oldest first (ids only: a backlog can be millions)."""
    from sqlalchemy import select

    from cliniloop.services.core.tables import TaskRow

    with store.session() as s:
        return list(s.scalars(select(TaskRow.id).where(TaskRow.modality == "text").order_by(TaskRow.created_at, TaskRow.id)))


def ray_ingest_notes(pool: RayPool, root: Path, *, keep_original: bool, shard_size: int = TEXT_SHARD, progress: Progress | None = None,
                     on_result: Callable[[RayPool, dict[str, Any]], None] | None = None) -> Any:  # fmt: skip
    """:func:`cliniloop.services.loop.ingest.ingest_notes` over the pool; returns the same :class:`IngestReport`."""
    from cliniloop.connectors.sources.notes import NoteFileError, iter_note_paths
    from cliniloop.services.loop.ingest import IngestReport

    paths = [str(p) for p in iter_note_paths(root)]
    results = pool.map("ingest_notes", [(str(root), s, keep_original) for s in shards(paths, shard_size)], progress, on_result)
    report = IngestReport(root=root)
    for r in results:
        report.added += r["added"]
        report.existing += r["existing"]
        report.errors += [NoteFileError(Path(p), reason) for p, reason in r["errors"]]
        report.detector = report.detector or r["detector"]
        for kind, count in r["identifiers"].items():
            report.identifiers[kind] = report.identifiers.get(kind, 0) + count
    added = set(report.added)
    report.existing = [t for t in dict.fromkeys(report.existing) if t not in added]  # a note in two shards: stored once
    return report


def ray_predict_text(pool: RayPool, store: Store, *, batch_size: int = 16, shard_size: int = TEXT_SHARD, progress: Progress | None = None,
                     on_result: Callable[[RayPool, dict[str, Any]], None] | None = None) -> Any:  # fmt: skip
    """:func:`cliniloop.services.loop.predict.predict_tasks` over the pool (model: rules, or rules + the promoted NER)."""
    from cliniloop.services.loop.predict import NER_MODEL_NAME, PredictReport

    ner_version = store.alias(NER_MODEL_NAME)
    ids = text_task_ids(store)
    results = pool.map("predict_text", [(s, ner_version, batch_size) for s in shards(ids, shard_size)], progress, on_result)
    version = results[0]["model_version"] if results else ""
    return PredictReport(
        model_version=version,
        predicted=sum(r["predicted"] for r in results),
        already_predicted=sum(r["already"] for r in results),
        failed=[tuple(f) for r in results for f in r["failed"]],  # type: ignore[misc]
    )


def record_paths(modality: str, root: Path) -> list[Path]:
    """The files a single-process ingest of ``modality`` would read under ``root``."""
    if modality == "ecg":
        from cliniloop.services.loop.ecg import _record_paths as ecg_paths

        return ecg_paths(root)
    if modality == "eeg":
        from cliniloop.services.loop.eeg import _record_paths as eeg_paths

        return eeg_paths(root)
    from cliniloop.connectors.sources.image import image_paths

    return image_paths(root)


@dataclass
class RecordIngestReport:
    """What a distributed ECG / EEG / image ingest did (the fields the CLI prints)."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    records: int = 0

    @property
    def files(self) -> int:
        """Files read (images)."""
        return self.records


class _FileError(ValueError):
    """A rejected file as the workers reported it (path and reason, as the modality's own error)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def ray_ingest_records(pool: RayPool, modality: str, root: Path, options: dict[str, Any], progress: Progress | None = None) -> RecordIngestReport:
    """ECG, EEG or image ingest over the pool, one file per call (a recording is one transaction)."""
    paths = [str(p) for p in record_paths(modality, root)]
    results = pool.map("ingest_records", [(modality, [p], options) for p in paths], progress)
    report = RecordIngestReport()
    for r in results:
        report.added += r["added"]
        report.existing += r["existing"]
        report.errors += [_FileError(Path(p), reason) for p, reason in r["errors"]]
        report.records += r["records"]
    return report


def _by_record(store: Store, modality: str) -> dict[str, int]:
    from cliniloop.services.loop.ecg import record_key as ecg_key
    from cliniloop.services.loop.eeg import record_key as eeg_key

    key = ecg_key if modality == "ecg" else eeg_key
    counts: dict[str, int] = {}
    for task in store.list_tasks(modality):
        counts[key(task.data)] = counts.get(key(task.data), 0) + 1
    return counts


def ray_predict_signals(pool: RayPool, store: Store, modality: str, options: dict[str, Any], progress: Progress | None = None) -> tuple[int, list[Any]]:
    """ECG or EEG prediction over the pool, one recording per call; returns (windows predicted, skipped files).

    ``progress`` is called with 1 per recording done.
    """
    records = _by_record(store, modality)
    if modality == "ecg":
        calls = [([k], options.get("chunk_s", 300.0), options.get("mapping_path")) for k in records]
    else:
        calls = [([k], options.get("sleep", True), options.get("block_s", 300.0)) for k in records]
    results = pool.map(f"predict_{modality}", calls, progress)
    return sum(r["predicted"] for r in results), [_FileError(Path(p), reason) for r in results for p, reason in r["errors"]]


def ray_predict_images(pool: RayPool, store: Store, *, shard_size: int = 16, progress: Progress | None = None) -> tuple[int, list[Any]]:
    """Image prediction over the pool; returns (frames predicted, skipped files)."""
    ids = [t.id for t in store.list_tasks("image")]
    results = pool.map("predict_images", [(s,) for s in shards(ids, shard_size)], progress)
    return sum(r["predicted"] for r in results), [_FileError(Path(p), reason) for r in results for p, reason in r["errors"]]

