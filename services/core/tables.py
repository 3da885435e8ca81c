"""SQLAlchemy table definitions of the store (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """Timezone-aware current time (UTC)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` with UTC attached when it is naive (SQLite returns stored times without a zone)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class TaskRow(Base):
    """One unit of annotation work; ``id`` is a content hash, stable across re-ingestion."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    modality: Mapped[str] = mapped_column(String(16), index=True)
    source_uri: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PredictionRow(Base):
    """A model's regions for a task; one per (task, model name, model version)."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("task_id", "model_name", "model_version", name="uq_prediction_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128))
    taxonomy_version: Mapped[str] = mapped_column(String(128))
    regions: Mapped[list[Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationRow(Base):
    """A human annotation; one per (source, source annotation id), updates replace it."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("source", "source_annotation_id", name="uq_annotation_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    source_annotation_id: Mapped[str] = mapped_column(String(64))
    annotator: Mapped[str | None] = mapped_column(String(256), nullable=True)
    regions: Mapped[list[Any]] = mapped_column(JSON)
    lead_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    taxonomy_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PushRow(Base):
    """Record that a task exists in an external project (e.g. a Label Studio project)."""

    __tablename__ = "pushes"
    __table_args__ = (UniqueConstraint("task_id", "project_ref", name="uq_push_task_project"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    project_ref: Mapped[str] = mapped_column(String(512), index=True)
    external_task_id: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    """An immutable trained or rule-built model version."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    parent: Mapped[str | None] = mapped_column(String(128), nullable=True)
    training_set_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    label_count: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelAliasRow(Base):
    """A movable pointer (e.g. ``production``) to one model version: promotion moves it."""

    __tablename__ = "model_aliases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ModelPromotionRow(Base):
    """Every move of a model alias (promotion, manual promotion, rollback): append-only history.

    Replaying it gives the stack of promoted versions that :meth:`Store.rollback` walks back.
    """

    __tablename__ = "model_promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # "promote" or "rollback"
    version: Mapped[str] = mapped_column(String(128))
    previous_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    actor: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class JobRow(Base):
    """A background job (e.g. training): queued -> running -> succeeded | failed.

    At most one job per ``kind`` is queued at a time (a partial unique index): requests that
    arrive while one waits are coalesced into it.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_one_queued_per_kind",
            "kind",
            unique=True,
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RoundRow(Base):
    """One active-learning round: which tasks a strategy selected, under which model."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128))
    budget: Mapped[int] = mapped_column(Integer)
    selected_task_ids: Mapped[list[Any]] = mapped_column(JSON)
    pushed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEventRow(Base):
    """Who did what, when: append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CodeMappingRow(Base):
    """A coder's verdict on a mention → code mapping (the validated mapping table).

    One row per (coder annotation, system). ``verdict`` is ``accept`` (``code`` is the accepted
    candidate), ``alternative`` (the coder typed ``code``, checked against the system),
    ``reject`` (no candidate fits; ``code`` is empty) or ``needs_review``. ``valid`` is False
    for an alternative code that the code system does not know: such a row is kept for the
    record but never counts as validated.
    """

    __tablename__ = "code_mappings"
    __table_args__ = (UniqueConstraint("source_annotation_id", "system", name="uq_code_mapping_source_system"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    mention: Mapped[str] = mapped_column(Text)
    normalized_mention: Mapped[str] = mapped_column(String(512), index=True)
    context: Mapped[str] = mapped_column(Text, default="")
    system: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32), default="")
    display: Mapped[str] = mapped_column(Text, default="")
    coder: Mapped[str] = mapped_column(String(256))
    verdict: Mapped[str] = mapped_column(String(16))
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_annotation_id: Mapped[str] = mapped_column(String(128))
    taxonomy_version: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OriginalNoteRow(Base):
    """A note's original text, kept apart from tasks only when ``deid_keep_original`` is on.

    Never sent to Label Studio, never in an API response; deleting the task deletes it.
    """

    __tablename__ = "original_notes"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    source_path: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PhiCorrectionRow(Base):
    """An identifier an annotator marked as missed by de-identification (``phi`` label).

    Offsets are in the de-identified task text; the identifier itself is never stored.
    """

    __tablename__ = "phi_corrections"
    __table_args__ = (UniqueConstraint("source_annotation_id", "start", "end", name="uq_phi_correction_span"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    source_annotation_id: Mapped[str] = mapped_column(String(128), index=True)
    annotator: Mapped[str | None] = mapped_column(String(256), nullable=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32), index=True)
    detector_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the span was replaced by a surrogate in the task text (``None``: not yet); the
    #: offsets then cover the surrogate (see :mod:`cliniloop.services.loop.deid_corrections`).
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: When the corrected task text and shifted regions reached Label Studio (``None``: not yet).
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DenyListRow(Base):
    """A deny-listed identifier of one scope (a Label Studio text project title).

    Holds a keyed digest of the normalised token sequence, the type and the token count; never
    the identifier (see :mod:`cliniloop.models.text.deid.deny_list`).
    """

    __tablename__ = "deid_deny_list"
    __table_args__ = (UniqueConstraint("scope", "digest", name="uq_deid_deny_list_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(256), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


ADJUDICATION_STATUSES = ("open", "resolved", "withdrawn")


class AdjudicationRow(Base):
    """A task whose annotators disagree beyond the threshold: open until a reviewer resolves it.

    ``regions`` (the reviewer's result) is the task's gold label once ``status`` is
    ``resolved``; while it is ``open`` training leaves the task out. ``withdrawn``: the
    annotators' later edits brought them into agreement before a review.
    """

    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), unique=True)
    modality: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")
    agreement: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    annotation_ids: Mapped[list[Any]] = mapped_column(JSON)
    annotators: Mapped[list[Any]] = mapped_column(JSON)
    source_project_ref: Mapped[str | None] = mapped_column(String(512), nullable=True)
    project_ref: Mapped[str | None] = mapped_column(String(512), nullable=True)
    external_task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    regions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(256), nullable=True)
    review_annotation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class GoldAnswerRow(Base):
    """The known answer of a gold-check task (annotators' accuracy is measured against it)."""

    __tablename__ = "gold_answers"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    regions: Mapped[list[Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
