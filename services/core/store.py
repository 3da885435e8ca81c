"""The SQL store: every step of the loop reads and writes through :class:`Store`.

Writes for one call happen in one transaction, so a failure leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.core.schemas import AnnotationIn, PredictionIn, TaskIn, regions_from_json, regions_to_json
from services.core.tables import (
    AnnotationRow,
    AuditEventRow,
    ModelAliasRow,
    ModelVersionRow,
    PredictionRow,
    PushRow,
    RoundRow,
    TaskRow,
    utcnow,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


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


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get their folder created, WAL and foreign keys."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Store:
    """Access to tasks, predictions, annotations, pushes, model versions, rounds and audit events.

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
    def add_tasks(self, tasks: Sequence[TaskIn]) -> list[str]:
        """Insert tasks that are not stored yet; return the ids that were new."""
        ids = [t.id for t in tasks]
        with self.session() as s:
            existing = set(s.scalars(select(TaskRow.id).where(TaskRow.id.in_(ids))))
            new = []
            for t in tasks:
                if t.id in existing or t.id in new:
                    continue
                s.add(TaskRow(id=t.id, modality=t.modality, source_uri=t.source_uri, data=t.data))
                new.append(t.id)
        return new

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
    def add_predictions(self, predictions: Sequence[PredictionIn]) -> int:
        """Store predictions; one per (task, model, version) — existing ones are kept as they are.

        Returns
        -------
        int
            Number of predictions newly stored.
        """
        added = 0
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
                    continue
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
        return added

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
        """Insert an annotation or replace the stored one with the same source id."""
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
        """Register an immutable model version; registering the same one again returns it unchanged."""
        with self.session() as s:
            row = s.scalar(select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version))
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

    def model_versions(self, name: str) -> list[str]:
        """Registered versions of model ``name``, oldest first."""
        with self.session() as s:
            q = select(ModelVersionRow.version).where(ModelVersionRow.name == name).order_by(ModelVersionRow.id)
            return list(s.scalars(q))

    def promote(self, name: str, version: str, alias: str = "production") -> None:
        """Point ``alias`` of model ``name`` at ``version`` (which must be registered)."""
        with self.session() as s:
            if s.scalar(select(ModelVersionRow.id).where(ModelVersionRow.name == name, ModelVersionRow.version == version)) is None:
                raise KeyError(f"model {name!r} has no registered version {version!r}")
            row = s.get(ModelAliasRow, (name, alias))
            if row is None:
                s.add(ModelAliasRow(name=name, alias=alias, version=version))
            else:
                row.version = version

    def alias(self, name: str, alias: str = "production") -> str | None:
        """Return the version ``alias`` points at, or ``None``."""
        with self.session() as s:
            row = s.get(ModelAliasRow, (name, alias))
            return row.version if row else None

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
        """Append an audit event."""
        with self.session() as s:
            s.add(AuditEventRow(actor=actor, action=action, entity=entity, entity_id=entity_id, details=details))

    def audit_events(self, action: str | None = None) -> list[AuditEventRow]:
        """Return audit events, oldest first, optionally of one action."""
        q = select(AuditEventRow).order_by(AuditEventRow.id)
        if action:
            q = q.where(AuditEventRow.action == action)
        with self.session() as s:
            return list(s.scalars(q))

    def counts(self) -> dict[str, int]:
        """Row counts per table, for status output."""
        tables = {
            "tasks": TaskRow,
            "predictions": PredictionRow,
            "annotations": AnnotationRow,
            "pushes": PushRow,
            "model_versions": ModelVersionRow,
            "rounds": RoundRow,
            "audit_events": AuditEventRow,
        }
        with self.session() as s:
            return {name: s.scalar(select(func.count()).select_from(t)) or 0 for name, t in tables.items()}


def open_store(url: str | None = None) -> Store:
    """Open the store at ``url`` (default: from settings) and migrate it to the newest schema."""
    from services.core.settings import get_settings

    store = Store(url or get_settings().resolved_database_url)
    store.migrate()
    return store
