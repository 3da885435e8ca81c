"""The SQL store: every step of the loop reads and writes through :class:`Store`.

Writes for one call happen in one transaction, so a failure leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cliniloop.services.core.schemas import AnnotationIn, CodeVerdictIn, PredictionIn, TaskIn, regions_from_json, regions_to_json
from cliniloop.services.core.audit import check_details, check_event
from cliniloop.services.core.private import private_sqlite
from cliniloop.services.core.tables import (
    AdjudicationRow,
    AnnotationRow,
    AuditEventRow,
    CodeMappingRow,
    DenyListRow,
    GoldAnswerRow,
    JobRow,
    ModelAliasRow,
    ModelPromotionRow,
    ModelVersionRow,
    OriginalNoteRow,
    PhiCorrectionRow,
    PredictionRow,
    PushRow,
    RoundRow,
    TaskRow,
    utcnow,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
INTERRUPTED = "interrupted: the process running this job stopped before it finished"


class NoEarlierVersion(LookupError):
    """A rollback was asked for, but the alias has no earlier promoted version to go back to."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def prediction_from_row(row: PredictionRow) -> PredictionIn:
    """The stored prediction as a validated :class:`PredictionIn` (regions parsed)."""
    return PredictionIn(
        task_id=row.task_id,
        model_name=row.model_name,
        model_version=row.model_version,
        taxonomy_version=row.taxonomy_version,
        regions=regions_from_json(row.regions),
        score=row.score,
        uncertainty=row.uncertainty,
    )


def _region_dicts(regions: Sequence[Any]) -> list[dict[str, Any]]:
    """Stored region dicts of regions given as schema objects or as dicts already."""
    return regions_to_json(regions) if regions and not isinstance(regions[0], dict) else list(regions)


def _without_ids(regions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "id"} for r in regions]


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get their folder created, WAL and foreign keys."""
    db = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:") else None
    if db is not None:
        private_sqlite(db)  # the file (and so its -wal/-shm, which SQLite makes with its mode) 0600
    # hide_parameters: an error (e.g. "database is locked" during ingest) must not print bound
    # values, which are de-identified note text, regions and audit details
    engine = create_engine(url, future=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if db is not None:
            event.listen(engine, "connect", lambda *_: private_sqlite(db))
    return engine


class Store:
    """Access to tasks, predictions, annotations, pushes, model versions, rounds, jobs and audit events.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # -- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    # -- tasks -----------------------------------------------------------------------------
    def add_tasks(
        self,
        tasks: Sequence[TaskIn],
        *,
        originals: Mapping[str, tuple[str, str]] | None = None,
        audit_events: Mapping[str, tuple[str, str, dict[str, Any]]] | None = None,
    ) -> list[str]:
        """Insert tasks that are not stored yet; return the ids that were new.

        Parameters
        ----------
        tasks : sequence of TaskIn
            The tasks.
        originals : mapping, optional
            ``task id -> (source path, original text)`` kept in ``original_notes`` for new tasks.
        audit_events : mapping, optional
            ``task id -> (actor, action, details)``: one audit event per new task.

        Everything is written in one transaction: tasks, originals and audit events together,
        or nothing.
        """
        ids = [t.id for t in tasks]
        originals = originals or {}
        audit_events = audit_events or {}
        with self.session() as s:
            existing = set(s.scalars(select(TaskRow.id).where(TaskRow.id.in_(ids))))
            new = []
            for t in tasks:
                if t.id in existing or t.id in new:
                    continue
                s.add(TaskRow(id=t.id, modality=t.modality, source_uri=t.source_uri, data=t.data))
                new.append(t.id)
            s.flush()
            for tid in new:
                if tid in originals:
                    path, text = originals[tid]
                    s.add(OriginalNoteRow(task_id=tid, source_path=path, text=text))
                if tid in audit_events:
                    actor, action, details = audit_events[tid]
                    check_event(actor, action, "task", tid)
                    check_details(details)
                    s.add(AuditEventRow(actor=actor, action=action, entity="task", entity_id=tid, details=details))
        return new

    def original_note(self, task_id: str) -> OriginalNoteRow | None:
        """The kept original of a task's note, or ``None`` (not kept, or no such task)."""
        with self.session() as s:
            return s.get(OriginalNoteRow, task_id)

    def count_original_notes(self) -> int:
        """How many original notes are kept."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(OriginalNoteRow)) or 0

    def get_task(self, task_id: str) -> TaskRow | None:
        """Return one task or ``None``."""
        with self.session() as s:
            return s.get(TaskRow, task_id)

    def count_tasks(self, modality: str | None = None) -> int:
        """Number of stored tasks, optionally of one modality."""
        q = select(func.count()).select_from(TaskRow)
        if modality:
            q = q.where(TaskRow.modality == modality)
        with self.session() as s:
            return s.scalar(q) or 0

    def list_tasks(self, modality: str | None = None, ids: Iterable[str] | None = None) -> list[TaskRow]:
        """Return tasks, optionally of one modality or with the given ids, in id order."""
        q = select(TaskRow).order_by(TaskRow.created_at, TaskRow.id)
        if modality:
            q = q.where(TaskRow.modality == modality)
        if ids is not None:
            q = q.where(TaskRow.id.in_(list(ids)))
        with self.session() as s:
            return list(s.scalars(q))

    # -- predictions -----------------------------------------------------------------------
    def add_predictions(self, predictions: Sequence[PredictionIn], *, make_latest: bool = False) -> int:
        """Store predictions; one per (task, model, version) — existing ones are kept as they are.

        Parameters
        ----------
        predictions : sequence of PredictionIn
            What to store.
        make_latest : bool
            Replace a stored prediction of the same version by the given one, so that it becomes
            the task's latest (used when an older model version is promoted again, e.g. by a
            rollback: its old predictions would otherwise stay behind the newer version's).

        One ``predict`` audit event per (model, version, taxonomy version) stored goes with them.

        Returns
        -------
        int
            Number of predictions newly stored (replacements included).
        """
        added = 0
        stored: dict[tuple[str, str, str], int] = {}
        with self.session() as s:
            for p in predictions:
                exists = s.scalar(
                    select(PredictionRow.id).where(
                        PredictionRow.task_id == p.task_id,
                        PredictionRow.model_name == p.model_name,
                        PredictionRow.model_version == p.model_version,
                    )
                )
                if exists is not None:
                    if not make_latest:
                        continue
                    s.execute(delete(PredictionRow).where(PredictionRow.id == exists))
                s.add(
                    PredictionRow(
                        task_id=p.task_id,
                        model_name=p.model_name,
                        model_version=p.model_version,
                        taxonomy_version=p.taxonomy_version,
                        regions=regions_to_json(p.regions),
                        score=p.score,
                        uncertainty=p.uncertainty,
                    )
                )
                added += 1
                key = (p.model_name, p.model_version, p.taxonomy_version)
                stored[key] = stored.get(key, 0) + 1
            for (name, version, taxonomy), count in stored.items():
                s.add(
                    AuditEventRow(
                        actor="cliniloop", action="predict", entity="model", entity_id=name,
                        details={"count": count, "model_version": version, "taxonomy_version": taxonomy},
                    )
                )  # fmt: skip
        return added

    def predictions(self, task_ids: Iterable[str] | None = None) -> list[PredictionRow]:
        """Every stored prediction (of these tasks), oldest first."""
        q = select(PredictionRow).order_by(PredictionRow.id)
        if task_ids is not None:
            q = q.where(PredictionRow.task_id.in_(list(task_ids)))
        with self.session() as s:
            return list(s.scalars(q))

    def predicted_task_ids(self) -> set[str]:
        """Ids of tasks that have at least one stored prediction."""
        with self.session() as s:
            return set(s.scalars(select(PredictionRow.task_id).distinct()))

    def push_rows(self, task_ids: Iterable[str] | None = None) -> list[PushRow]:
        """Every recorded push (of these tasks), oldest first."""
        q = select(PushRow).order_by(PushRow.id)
        if task_ids is not None:
            q = q.where(PushRow.task_id.in_(list(task_ids)))
        with self.session() as s:
            return list(s.scalars(q))

    def latest_predictions(self, model_name: str, task_ids: Iterable[str] | None = None) -> dict[str, PredictionRow]:
        """Return the newest prediction of ``model_name`` for each task."""
        q = select(PredictionRow).where(PredictionRow.model_name == model_name).order_by(PredictionRow.id)
        if task_ids is not None:
            q = q.where(PredictionRow.task_id.in_(list(task_ids)))
        with self.session() as s:
            return {p.task_id: p for p in s.scalars(q)}

    # -- pushes ----------------------------------------------------------------------------
    def pushed(self, project_ref: str) -> dict[str, int]:
        """Map task id -> external task id for tasks already in ``project_ref``."""
        with self.session() as s:
            rows = s.execute(select(PushRow.task_id, PushRow.external_task_id).where(PushRow.project_ref == project_ref))
            return {task_id: ext for task_id, ext in rows}

    def pushed_versions(self, project_ref: str) -> dict[str, str | None]:
        """Map task id -> model version of the prediction last pushed to ``project_ref``."""
        with self.session() as s:
            rows = s.execute(select(PushRow.task_id, PushRow.model_version).where(PushRow.project_ref == project_ref))
            return {task_id: version for task_id, version in rows}

    def record_pushes(self, project_ref: str, external_ids: dict[str, int], model_version: str | None) -> None:
        """Record (or refresh) that tasks exist in ``project_ref`` under the given external ids."""
        with self.session() as s:
            existing = {
                r.task_id: r
                for r in s.scalars(
                    select(PushRow).where(PushRow.project_ref == project_ref, PushRow.task_id.in_(list(external_ids)))
                )
            }
            for task_id, ext in external_ids.items():
                row = existing.get(task_id)
                if row is None:
                    s.add(PushRow(task_id=task_id, project_ref=project_ref, external_task_id=ext, model_version=model_version))
                else:
                    row.external_task_id = ext
                    row.model_version = model_version
                    row.pushed_at = utcnow()

    def task_id_for_external(self, project_ref: str, external_task_id: int) -> str | None:
        """Return our task id for an external (e.g. Label Studio) task id."""
        with self.session() as s:
            return s.scalar(
                select(PushRow.task_id).where(
                    PushRow.project_ref == project_ref, PushRow.external_task_id == external_task_id
                )
            )

    # -- annotations -----------------------------------------------------------------------
    def upsert_annotation(self, ann: AnnotationIn) -> Literal["created", "updated", "unchanged"]:
        """Insert an annotation or replace the stored one with the same source id.

        Safe under concurrency: when another writer inserts the same source id between this
        one's check and insert (the UNIQUE constraint answers), the upsert is retried as an update.
        """
        for attempt in range(3):
            try:
                return self._upsert_annotation_once(ann)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _upsert_annotation_once(self, ann: AnnotationIn) -> Literal["created", "updated", "unchanged"]:
        regions = regions_to_json(ann.regions)
        with self.session() as s:
            row = s.scalar(
                select(AnnotationRow).where(
                    AnnotationRow.source == ann.source, AnnotationRow.source_annotation_id == ann.source_annotation_id
                )
            )
            if row is None:
                s.add(
                    AnnotationRow(
                        task_id=ann.task_id,
                        source=ann.source,
                        source_annotation_id=ann.source_annotation_id,
                        annotator=ann.annotator,
                        regions=regions,
                        lead_time_s=ann.lead_time_s,
                        model_version=ann.model_version,
                        taxonomy_version=ann.taxonomy_version,
                    )
                )
                return "created"
            if row.regions == regions and row.annotator == ann.annotator and row.task_id == ann.task_id:
                return "unchanged"
            row.task_id = ann.task_id
            row.regions = regions
            row.annotator = ann.annotator
            row.lead_time_s = ann.lead_time_s
            row.model_version = ann.model_version
            row.taxonomy_version = ann.taxonomy_version
            return "updated"

    def remove_annotations_except(self, task_id: str, source: str, keep: Iterable[str], prefix: str = "") -> int:
        """Delete ``task_id``'s annotations from ``source`` (ids starting with ``prefix``) not in ``keep``."""
        keep = list(keep)
        with self.session() as s:
            q = delete(AnnotationRow).where(AnnotationRow.task_id == task_id, AnnotationRow.source == source)
            if prefix:
                q = q.where(AnnotationRow.source_annotation_id.startswith(prefix, autoescape=True))
            if keep:
                q = q.where(AnnotationRow.source_annotation_id.not_in(keep))
            return s.execute(q).rowcount or 0

    def annotation_task_id(self, source: str, source_annotation_id: str) -> str | None:
        """The task id of the annotation with this source id, or ``None`` when none is stored."""
        with self.session() as s:
            return s.scalar(
                select(AnnotationRow.task_id).where(
                    AnnotationRow.source == source, AnnotationRow.source_annotation_id == source_annotation_id
                )
            )

    def remove_annotation(self, source: str, source_annotation_id: str) -> int:
        """Delete one annotation by its source id; return how many rows went."""
        with self.session() as s:
            q = delete(AnnotationRow).where(
                AnnotationRow.source == source, AnnotationRow.source_annotation_id == source_annotation_id
            )
            return s.execute(q).rowcount or 0

    def annotated_task_ids(self) -> set[str]:
        """Ids of tasks that have at least one human annotation."""
        with self.session() as s:
            return set(s.scalars(select(AnnotationRow.task_id).distinct()))

    def count_annotations_since(self, since: datetime | None) -> int:
        """Number of stored annotations created or updated after ``since`` (all of them for ``None``)."""
        q = select(func.count()).select_from(AnnotationRow)
        if since is not None:
            q = q.where(AnnotationRow.updated_at > since)
        with self.session() as s:
            return s.scalar(q) or 0

    def annotations(self, task_id: str | None = None) -> list[AnnotationRow]:
        """Return stored annotations, optionally of one task."""
        q = select(AnnotationRow).order_by(AnnotationRow.id)
        if task_id is not None:
            q = q.where(AnnotationRow.task_id == task_id)
        with self.session() as s:
            return list(s.scalars(q))

    # -- model versions --------------------------------------------------------------------
    def register_model_version(
        self,
        name: str,
        version: str,
        *,
        parent: str | None = None,
        training_set_hash: str | None = None,
        label_count: int = 0,
        metrics: dict[str, Any] | None = None,
        artifact_uri: str | None = None,
    ) -> ModelVersionRow:
        """Register an immutable model version; registering the same one again returns it unchanged.

        Two processes registering one version at once (e.g. two workers finishing prediction
        shards) both get the stored row: the loser of the insert reads the winner's.
        """
        where = (ModelVersionRow.name == name, ModelVersionRow.version == version)
        try:
            with self.session() as s:
                row = s.scalar(select(ModelVersionRow).where(*where))
                if row is not None:
                    return row
                row = ModelVersionRow(
                    name=name,
                    version=version,
                    parent=parent,
                    training_set_hash=training_set_hash,
                    label_count=label_count,
                    metrics=metrics or {},
                    artifact_uri=artifact_uri,
                )
                s.add(row)
                return row
        except IntegrityError:
            with self.session() as s:
                row = s.scalar(select(ModelVersionRow).where(*where))
            if row is None:  # the constraint that failed was another one
                raise
            return row

    def model_versions(self, name: str) -> list[str]:
        """Registered versions of model ``name``, oldest first."""
        with self.session() as s:
            q = select(ModelVersionRow.version).where(ModelVersionRow.name == name).order_by(ModelVersionRow.id)
            return list(s.scalars(q))

    def model_version_rows(self, name: str) -> list[ModelVersionRow]:
        """Registered versions of model ``name`` with their metrics and lineage, oldest first."""
        with self.session() as s:
            return list(s.scalars(select(ModelVersionRow).where(ModelVersionRow.name == name).order_by(ModelVersionRow.id)))

    def model_version(self, name: str, version: str) -> ModelVersionRow | None:
        """One registered version, or ``None``."""
        with self.session() as s:
            return s.scalar(select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version))

    def promote(
        self,
        name: str,
        version: str,
        alias: str = "production",
        *,
        actor: str = "cliniloop",
        reason: str | None = None,
    ) -> str | None:
        """Point ``alias`` of model ``name`` at ``version`` (which must be registered).

        The move is recorded in the promotion history (see :meth:`rollback`); pointing the alias
        at the version it already has changes nothing and records nothing.

        Returns
        -------
        str or None
            The version the alias pointed at before.

        Raises
        ------
        KeyError
            If ``version`` is not registered for ``name``.
        """
        with self.session() as s:
            if s.scalar(select(ModelVersionRow.id).where(ModelVersionRow.name == name, ModelVersionRow.version == version)) is None:
                raise KeyError(f"model {name!r} has no registered version {version!r}")
            row = s.get(ModelAliasRow, (name, alias))
            previous = row.version if row else None
            if previous == version:
                return previous
            if row is None:
                s.add(ModelAliasRow(name=name, alias=alias, version=version))
            else:
                row.version = version
            s.add(
                ModelPromotionRow(
                    name=name, alias=alias, action="promote", version=version, previous_version=previous, actor=actor, reason=reason
                )
            )
            s.add(
                AuditEventRow(
                    actor=actor, action="promote", entity="model", entity_id=name,
                    details={"alias": alias, "model_version": version, "previous_version": previous},
                )
            )  # fmt: skip
            return previous

    def alias(self, name: str, alias: str = "production") -> str | None:
        """Return the version ``alias`` points at, or ``None``."""
        with self.session() as s:
            row = s.get(ModelAliasRow, (name, alias))
            return row.version if row else None

    def promoted_model_names(self) -> list[str]:
        """Names of models that were ever promoted (sorted)."""
        with self.session() as s:
            return sorted(set(s.scalars(select(ModelPromotionRow.name))))

    def promotions(self, name: str, alias: str = "production") -> list[ModelPromotionRow]:
        """The alias's history (promotions and rollbacks), oldest first."""
        with self.session() as s:
            q = (
                select(ModelPromotionRow)
                .where(ModelPromotionRow.name == name, ModelPromotionRow.alias == alias)
                .order_by(ModelPromotionRow.id)
            )
            return list(s.scalars(q))

    @staticmethod
    def _promotion_stack(history: Sequence[ModelPromotionRow], current: str | None) -> list[str]:
        stack: list[str] = []
        for row in history:
            if row.action == "rollback" and stack:
                stack.pop()
            if not stack or stack[-1] != row.version:
                stack.append(row.version)
        if current is not None and (not stack or stack[-1] != current):
            stack.append(current)  # moved without history (cannot happen through this class)
        return stack

    def promotion_stack(self, name: str, alias: str = "production") -> list[str]:
        """Versions promoted in turn and not rolled back, oldest first; the last is the current one.

        Replays the history: a promotion pushes its version, a rollback pops the current one.
        """
        return self._promotion_stack(self.promotions(name, alias), self.alias(name, alias))

    def rollback(
        self, name: str, alias: str = "production", *, actor: str = "cliniloop", reason: str | None = None
    ) -> tuple[str, str]:
        """Move ``alias`` back to the version promoted before the current one.

        Repeated rollbacks walk further back (v1 -> v2 -> v3, rollback: v2, rollback: v1).

        Returns
        -------
        tuple of str
            ``(version it pointed at, version it points at now)``.

        Raises
        ------
        NoEarlierVersion
            When nothing was promoted before the current version (or nothing at all).
        """
        with self.session() as s:
            row = s.get(ModelAliasRow, (name, alias))
            current = row.version if row else None
            history = list(
                s.scalars(
                    select(ModelPromotionRow)
                    .where(ModelPromotionRow.name == name, ModelPromotionRow.alias == alias)
                    .order_by(ModelPromotionRow.id)
                )
            )
            stack = self._promotion_stack(history, current)
            if row is None or current is None or len(stack) < 2:
                raise NoEarlierVersion(
                    f"model {name!r} ({alias}) has no earlier promoted version to roll back to"
                    + (f"; it is at {current}" if current else "; nothing is promoted")
                )
            target = stack[-2]
            row.version = target
            s.add(
                ModelPromotionRow(
                    name=name, alias=alias, action="rollback", version=target, previous_version=current, actor=actor, reason=reason
                )
            )
            s.add(
                AuditEventRow(
                    actor=actor, action="rollback", entity="model", entity_id=name,
                    details={"alias": alias, "model_version": target, "previous_version": current},
                )
            )  # fmt: skip
            return current, target

    # -- jobs --------------------------------------------------------------------------------
    def enqueue_job(self, kind: str, params: dict[str, Any] | None = None, requested_by: str | None = None) -> int:
        """Queue a job; when one of the same ``kind`` is already queued, return that one's id instead.

        Bursts of requests (e.g. many webhooks) thus coalesce into one queued job; its params
        are the first request's. A partial unique index (one queued job per kind) makes this
        hold under concurrent requests too.
        """
        for _ in range(5):
            with self.session() as s:
                existing = s.scalar(select(JobRow.id).where(JobRow.kind == kind, JobRow.status == "queued"))
            if existing is not None:
                return existing
            try:
                with self.session() as s:
                    row = JobRow(kind=kind, status="queued", progress=0.0, params=params or {}, requested_by=requested_by)
                    s.add(row)
                    s.flush()
                    return row.id
            except IntegrityError:
                continue  # another request queued one between the check and the insert: use that one
        raise RuntimeError(f"could not queue a {kind!r} job")  # pragma: no cover - needs a pathological race

    def claim_next_job(self, kinds: Iterable[str] | None = None) -> JobRow | None:
        """Atomically move the oldest queued job to ``running`` and return it (``None`` when none is queued).

        A compare-and-set (``UPDATE ... WHERE id = :id AND status = 'queued'``) makes sure two
        workers, threads or processes, on SQLite or PostgreSQL, never claim the same job.
        """
        kinds = list(kinds) if kinds is not None else None
        while True:
            q = select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.id).limit(1)
            if kinds is not None:
                q = q.where(JobRow.kind.in_(kinds))
            with self.session() as s:
                job_id = s.scalar(q)
            if job_id is None:
                return None
            with self.session() as s:
                claimed = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(status="running", started_at=utcnow(), progress=0.0, message="started")
                    .execution_options(synchronize_session=False)
                ).rowcount
                if claimed == 1:
                    return s.get(JobRow, job_id)
            # somebody else claimed it first: try the next one

    def update_job(self, job_id: int, *, progress: float | None = None, message: str | None = None) -> None:
        """Record a running job's progress (clipped to [0, 1]) and/or message."""
        values: dict[str, Any] = {}
        if progress is not None:
            values["progress"] = min(1.0, max(0.0, float(progress)))
        if message is not None:
            values["message"] = message
        if not values:
            return
        with self.session() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(**values).execution_options(synchronize_session=False))

    def finish_job(self, job_id: int, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Mark a job ``succeeded`` (with ``result``) or, when ``error`` is given, ``failed``."""
        values: dict[str, Any] = {"finished_at": utcnow()}
        if error is not None:
            values |= {"status": "failed", "error": error, "result": result}
        else:
            values |= {"status": "succeeded", "result": result or {}, "progress": 1.0, "error": None}
        with self.session() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(**values).execution_options(synchronize_session=False))

    def fail_interrupted_jobs(self, error: str = INTERRUPTED) -> list[int]:
        """Mark every ``running`` job ``failed`` (call when a worker starts: their process died)."""
        with self.session() as s:
            ids = list(s.scalars(select(JobRow.id).where(JobRow.status == "running")))
            if ids:
                s.execute(
                    update(JobRow)
                    .where(JobRow.id.in_(ids), JobRow.status == "running")
                    .values(status="failed", error=error, finished_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        return ids

    def job(self, job_id: int) -> JobRow | None:
        """One job, or ``None``."""
        with self.session() as s:
            return s.get(JobRow, job_id)

    def jobs(self, limit: int = 50, kind: str | None = None) -> list[JobRow]:
        """The newest ``limit`` jobs (optionally of one kind), newest first."""
        q = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
        if kind is not None:
            q = q.where(JobRow.kind == kind)
        with self.session() as s:
            return list(s.scalars(q))

    # -- rounds and audit --------------------------------------------------------------------
    def add_round(self, strategy: str, model_name: str, model_version: str, budget: int, selected: list[str]) -> int:
        """Record a round's selection; return its id."""
        with self.session() as s:
            row = RoundRow(
                strategy=strategy, model_name=model_name, model_version=model_version, budget=budget, selected_task_ids=selected
            )
            s.add(row)
            s.flush()
            return row.id

    def mark_round_pushed(self, round_id: int) -> None:
        """Flag a round as pushed to the annotation tool."""
        with self.session() as s:
            row = s.get(RoundRow, round_id)
            if row is not None:
                row.pushed = True

    def rounds(self) -> list[RoundRow]:
        """Return all rounds, oldest first."""
        with self.session() as s:
            return list(s.scalars(select(RoundRow).order_by(RoundRow.id)))

    def audit(self, actor: str, action: str, entity: str, entity_id: str | None = None, **details: Any) -> None:
        """Append an audit event (the table refuses updates and deletes).

        Raises
        ------
        cliniloop.services.core.audit.AuditDetailError
            If a field could hold note text, identifiers or secrets (see :func:`check_details`).
        """
        check_event(actor, action, entity, entity_id)
        check_details(details)
        with self.session() as s:
            s.add(AuditEventRow(actor=actor, action=action, entity=entity, entity_id=entity_id, details=details))

    def audit_events(
        self,
        action: str | None = None,
        *,
        actor: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEventRow]:
        """Audit events, oldest first (or the newest ``limit`` ones, newest first), filtered.

        ``action`` ending in ``*`` matches a prefix (``model_*``); ``since`` / ``until`` bound
        the time (inclusive / exclusive).
        """
        q = select(AuditEventRow)
        if action:
            q = q.where(AuditEventRow.action.startswith(action[:-1], autoescape=True) if action.endswith("*") else AuditEventRow.action == action)
        if actor:
            q = q.where(AuditEventRow.actor == actor)
        if entity:
            q = q.where(AuditEventRow.entity == entity)
        if entity_id:
            q = q.where(AuditEventRow.entity_id == entity_id)
        if since is not None:
            q = q.where(AuditEventRow.at >= since)
        if until is not None:
            q = q.where(AuditEventRow.at < until)
        q = q.order_by(AuditEventRow.id.desc() if newest_first else AuditEventRow.id)
        if limit is not None:
            q = q.limit(limit)
        with self.session() as s:
            return list(s.scalars(q))

    # -- adjudications and gold answers ---------------------------------------------------
    def adjudications(self, status: str | None = None, modality: str | None = None) -> list[AdjudicationRow]:
        """Adjudications, oldest first, optionally of one status and modality."""
        q = select(AdjudicationRow).order_by(AdjudicationRow.id)
        if status:
            q = q.where(AdjudicationRow.status == status)
        if modality:
            q = q.where(AdjudicationRow.modality == modality)
        with self.session() as s:
            return list(s.scalars(q))

    def adjudication(self, adjudication_id: int) -> AdjudicationRow | None:
        """One adjudication by id."""
        with self.session() as s:
            return s.get(AdjudicationRow, adjudication_id)

    def open_adjudication(
        self,
        task_id: str,
        modality: str,
        agreement: float,
        threshold: float,
        annotation_ids: Sequence[str],
        annotators: Sequence[str],
        source_project_ref: str | None = None,
    ) -> tuple[int, bool]:
        """Open an adjudication for a task (or refresh the open one); return ``(id, created)``.

        A resolved adjudication is left as it is (the reviewer's result stands); a withdrawn
        one is opened again.
        """
        with self.session() as s:
            row = s.scalar(select(AdjudicationRow).where(AdjudicationRow.task_id == task_id))
            fields = {
                "agreement": float(agreement),
                "threshold": float(threshold),
                "annotation_ids": sorted(annotation_ids),
                "annotators": list(annotators),
                "source_project_ref": source_project_ref,
            }
            if row is None:
                row = AdjudicationRow(task_id=task_id, modality=modality, status="open", **fields)
                s.add(row)
                s.flush()
                return row.id, True
            if row.status != "resolved":
                for key, value in fields.items():
                    setattr(row, key, value)
                row.status = "open"
            return row.id, False

    def withdraw_adjudication(self, adjudication_id: int) -> None:
        """Mark an open adjudication ``withdrawn`` (the annotators now agree)."""
        with self.session() as s:
            s.execute(
                update(AdjudicationRow)
                .where(AdjudicationRow.id == adjudication_id, AdjudicationRow.status == "open")
                .values(status="withdrawn")
            )

    def mark_adjudication_pushed(self, adjudication_id: int, project_ref: str, external_task_id: int) -> None:
        """Record the reviewer project's task of an adjudication."""
        with self.session() as s:
            s.execute(
                update(AdjudicationRow)
                .where(AdjudicationRow.id == adjudication_id)
                .values(project_ref=project_ref, external_task_id=external_task_id)
            )

    def resolve_adjudication(
        self, adjudication_id: int, regions: list[Any], reviewer: str | None, review_annotation_id: str
    ) -> bool:
        """Store the reviewer's result as the task's gold label; return whether anything changed."""
        data = _region_dicts(regions)
        with self.session() as s:
            row = s.get(AdjudicationRow, adjudication_id)
            if row is None:
                raise KeyError(f"no adjudication {adjudication_id}")
            if row.status == "resolved" and row.regions == data and row.review_annotation_id == review_annotation_id:
                return False
            row.status, row.regions, row.reviewer = "resolved", data, reviewer
            row.review_annotation_id, row.resolved_at = review_annotation_id, utcnow()
            return True

    def reopen_adjudication(self, adjudication_id: int) -> bool:
        """Back to ``open`` (the reviewer's annotation was deleted); return whether it changed."""
        with self.session() as s:
            row = s.get(AdjudicationRow, adjudication_id)
            if row is None or row.status != "resolved":
                return False
            row.status, row.regions, row.reviewer, row.review_annotation_id, row.resolved_at = "open", None, None, None, None
            return True

    def set_gold_answer(self, task_id: str, regions: list[Any], source: str, created_by: str) -> Literal["created", "updated", "unchanged"]:
        """Store (or replace) the known answer of a gold-check task."""
        data = _region_dicts(regions)
        with self.session() as s:
            if s.get(TaskRow, task_id) is None:
                raise KeyError(f"no task {task_id} in the store")
            row = s.get(GoldAnswerRow, task_id)
            if row is None:
                s.add(GoldAnswerRow(task_id=task_id, regions=data, source=source, created_by=created_by))
                return "created"
            if _without_ids(row.regions) == _without_ids(data):
                return "unchanged"  # region ids are made up on every read of a file: not a change
            row.regions, row.source, row.created_by, row.created_at = data, source, created_by, utcnow()
            return "updated"

    def remove_gold_answer(self, task_id: str) -> bool:
        """Stop using a task as a gold check; return whether it was one."""
        with self.session() as s:
            return bool(s.execute(delete(GoldAnswerRow).where(GoldAnswerRow.task_id == task_id)).rowcount)

    def gold_answers(self) -> dict[str, GoldAnswerRow]:
        """Known answers by task id."""
        with self.session() as s:
            return {r.task_id: r for r in s.scalars(select(GoldAnswerRow))}

    # -- validated code mappings ----------------------------------------------------------
    def upsert_code_verdict(self, verdict: CodeVerdictIn) -> Literal["created", "updated", "unchanged"]:
        """Store a coder's verdict, keyed by (source annotation, system); a changed verdict replaces the old one."""
        fields = verdict.model_dump()
        with self.session() as s:
            row = s.scalar(
                select(CodeMappingRow).where(
                    CodeMappingRow.source_annotation_id == verdict.source_annotation_id, CodeMappingRow.system == verdict.system
                )
            )
            if row is None:
                s.add(CodeMappingRow(**fields))
                return "created"
            if all(getattr(row, k) == v for k, v in fields.items()):
                return "unchanged"
            for k, v in fields.items():
                setattr(row, k, v)
            row.created_at = utcnow()
            return "updated"

    def remove_code_verdicts_except(self, source_prefix: str, keep: Iterable[str]) -> int:
        """Delete verdicts whose source id starts with ``source_prefix`` and is not in ``keep`` (deleted in the tool)."""
        keep = set(keep)
        with self.session() as s:
            rows = s.scalars(select(CodeMappingRow).where(CodeMappingRow.source_annotation_id.startswith(source_prefix)))
            gone = [r for r in rows if r.source_annotation_id not in keep]
            for r in gone:
                s.delete(r)
            return len(gone)

    def code_mappings(self, system: str | None = None, validated_only: bool = False) -> list[CodeMappingRow]:
        """Rows of the mapping table, oldest first; ``validated_only`` keeps valid accept/alternative verdicts."""
        q = select(CodeMappingRow).order_by(CodeMappingRow.id)
        if system:
            q = q.where(CodeMappingRow.system == system)
        if validated_only:
            q = q.where(CodeMappingRow.valid.is_(True), CodeMappingRow.verdict.in_(("accept", "alternative")), CodeMappingRow.code != "")
        with self.session() as s:
            return list(s.scalars(q))

    def accepted_mappings(self) -> dict[str, dict[str, list[str]]]:
        """``normalized mention -> system -> codes`` that coders validated, most often validated first.

        Ties are broken by the most recent verdict. This is what candidate generation ranks first.
        """
        tally: dict[tuple[str, str, str], tuple[int, int]] = {}
        for row in self.code_mappings(validated_only=True):
            key = (row.normalized_mention, row.system, row.code)
            n, _ = tally.get(key, (0, 0))
            tally[key] = (n + 1, row.id)
        out: dict[str, dict[str, list[str]]] = {}
        for (mention, system, code), _ in sorted(tally.items(), key=lambda kv: (-kv[1][0], -kv[1][1])):
            out.setdefault(mention, {}).setdefault(system, []).append(code)
        return out

    # -- PHI corrections ------------------------------------------------------------------
    def replace_phi_corrections(
        self,
        source_annotation_id: str,
        task_id: str,
        annotator: str | None,
        spans: Sequence[tuple[int, int, str]],
        detector_version: str | None = None,
    ) -> tuple[int, int]:
        """Make one annotation's stored PHI corrections equal ``spans``; return (added, removed).

        ``spans`` are ``(start, end, type)`` in the de-identified task text (no identifier text).
        """
        wanted = {(int(a), int(b)): t for a, b, t in spans}
        with self.session() as s:
            rows = list(s.scalars(select(PhiCorrectionRow).where(PhiCorrectionRow.source_annotation_id == source_annotation_id)))
            removed = 0
            have = {}
            for row in rows:
                if wanted.get((row.start, row.end)) != row.type:
                    s.delete(row)
                    removed += 1
                else:
                    have[(row.start, row.end)] = row
            s.flush()
            added = 0
            for (start, end), phi_type in wanted.items():
                if (start, end) not in have:
                    s.add(
                        PhiCorrectionRow(
                            task_id=task_id,
                            source_annotation_id=source_annotation_id,
                            annotator=annotator,
                            start=start,
                            end=end,
                            type=phi_type,
                            detector_version=detector_version,
                        )
                    )
                    added += 1
        return added, removed

    def remove_phi_corrections_except(self, task_id: str, keep: Iterable[str], prefix: str = "") -> int:
        """Delete a task's corrections from annotations (ids starting with ``prefix``) not in ``keep``."""
        keep = set(keep)
        with self.session() as s:
            rows = s.scalars(
                select(PhiCorrectionRow).where(
                    PhiCorrectionRow.task_id == task_id, PhiCorrectionRow.source_annotation_id.startswith(prefix)
                )
            )
            gone = [r for r in rows if r.source_annotation_id not in keep]
            for row in gone:
                s.delete(row)
        return len(gone)

    def phi_corrections(self, task_id: str | None = None) -> list[PhiCorrectionRow]:
        """Stored PHI corrections, oldest first."""
        q = select(PhiCorrectionRow).order_by(PhiCorrectionRow.id)
        if task_id is not None:
            q = q.where(PhiCorrectionRow.task_id == task_id)
        with self.session() as s:
            return list(s.scalars(q))

    def phi_correction_task_ids(self, *, unapplied: bool = False, unsynced: bool = False, prefix: str = "") -> list[str]:
        """Tasks with corrections (of annotations whose id starts with ``prefix``) not yet applied
        to the text (``unapplied``), or applied but not yet in Label Studio (``unsynced``)."""
        q = select(PhiCorrectionRow.task_id).distinct().order_by(PhiCorrectionRow.task_id)
        if prefix:
            q = q.where(PhiCorrectionRow.source_annotation_id.startswith(prefix))
        if unapplied:
            q = q.where(PhiCorrectionRow.applied_at.is_(None))
        if unsynced:
            q = q.where(PhiCorrectionRow.applied_at.is_not(None), PhiCorrectionRow.synced_at.is_(None))
        with self.session() as s:
            return list(s.scalars(q))

    def apply_text_correction(
        self,
        task_id: str,
        data: dict[str, Any],
        shift_regions: Callable[[list[Any]], list[Any]],
        shift_span: Callable[[int, int], tuple[int, int]],
        applied_ids: Iterable[int],
        deny: tuple[str, Sequence[tuple[str, str, int]]] | None = None,
        audit: tuple[str, str, dict[str, Any]] | None = None,
    ) -> int:
        """Store a task's corrected text in one transaction; return the deny-list entries added.

        Sets the task's ``data``; passes the regions of its annotations, predictions, gold
        answer and adjudication through ``shift_regions``; moves every correction of the task
        with ``shift_span`` and marks ``applied_ids`` applied (and not yet synced); adds
        ``deny = (scope, [(digest, type, tokens)])`` entries that are new to the scope; appends
        ``audit = (actor, action, details)`` for the task.
        """
        applied = set(applied_ids)
        now = utcnow()
        with self.session() as s:
            task = s.get(TaskRow, task_id)
            if task is None:
                raise KeyError(task_id)
            task.data = data
            for model in (AnnotationRow, PredictionRow, GoldAnswerRow, AdjudicationRow):
                for row in s.scalars(select(model).where(model.task_id == task_id)):
                    if row.regions:
                        row.regions = shift_regions(row.regions)
            for corr in s.scalars(select(PhiCorrectionRow).where(PhiCorrectionRow.task_id == task_id)):
                corr.start, corr.end = shift_span(corr.start, corr.end)
                if corr.id in applied:
                    corr.applied_at, corr.synced_at = now, None
            added = 0
            if deny is not None:
                scope, entries = deny
                have = set(s.scalars(select(DenyListRow.digest).where(DenyListRow.scope == scope)))
                for digest, phi_type, tokens in entries:
                    if digest not in have:
                        s.add(DenyListRow(scope=scope, digest=digest, type=phi_type, tokens=tokens))
                        have.add(digest)
                        added += 1
            if audit is not None:
                actor, action, details = audit
                check_event(actor, action, "task", task_id)
                check_details(details)
                s.add(AuditEventRow(actor=actor, action=action, entity="task", entity_id=task_id, details=details))
        return added

    def mark_phi_corrections_synced(self, task_id: str, data: dict[str, Any]) -> int:
        """The task's corrected text reached Label Studio: store ``data``, mark its applied corrections synced."""
        now = utcnow()
        with self.session() as s:
            task = s.get(TaskRow, task_id)
            if task is not None:
                task.data = data
            rows = s.scalars(
                select(PhiCorrectionRow).where(
                    PhiCorrectionRow.task_id == task_id,
                    PhiCorrectionRow.applied_at.is_not(None),
                    PhiCorrectionRow.synced_at.is_(None),
                )
            )
            n = 0
            for row in rows:
                row.synced_at = now
                n += 1
        return n

    def deny_list(self, scope: str) -> list[DenyListRow]:
        """Deny-listed identifiers of a scope (keyed digests, types, token counts), oldest first."""
        with self.session() as s:
            return list(s.scalars(select(DenyListRow).where(DenyListRow.scope == scope).order_by(DenyListRow.id)))

    def counts(self) -> dict[str, int]:
        """Row counts per table, for status output."""
        tables = {
            "tasks": TaskRow,
            "predictions": PredictionRow,
            "annotations": AnnotationRow,
            "pushes": PushRow,
            "model_versions": ModelVersionRow,
            "rounds": RoundRow,
            "jobs": JobRow,
            "audit_events": AuditEventRow,
            "original_notes": OriginalNoteRow,
            "phi_corrections": PhiCorrectionRow,
            "deid_deny_list": DenyListRow,
            "adjudications": AdjudicationRow,
            "gold_answers": GoldAnswerRow,
        }
        with self.session() as s:
            return {name: s.scalar(select(func.count()).select_from(t)) or 0 for name, t in tables.items()}


def open_store(url: str | None = None) -> Store:
    """Open the store at ``url`` (default: from settings) and migrate it to the newest schema."""
    from cliniloop.services.core.settings import get_settings

    store = Store(url or get_settings().resolved_database_url)
    store.migrate()
    return store
