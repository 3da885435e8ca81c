"""audit trail: no rewrite through REPLACE, upserts or TRUNCATE

0005 refused UPDATE and DELETE on ``audit_events``. Two more SQL paths could still rewrite it:

- SQLite: ``INSERT OR REPLACE`` / ``REPLACE INTO`` with an existing id deletes the old row
  without firing a DELETE trigger (recursive triggers are off). A BEFORE INSERT trigger now
  refuses any insert that reuses an id (``OR REPLACE``, ``OR IGNORE`` and upserts included).
- PostgreSQL: ``TRUNCATE`` fires no row trigger. A statement-level BEFORE TRUNCATE trigger now
  refuses it, and UPDATE, DELETE and TRUNCATE are revoked from ``PUBLIC`` (the app's own role
  should be granted only SELECT and INSERT: see the README's audit-trail section).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20 10:00:00
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_reused_id BEFORE INSERT ON audit_events "
    "WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: an insert may not reuse an id'); END",
]
POSTGRES_TRIGGERS = [
    # the function of 0005 raises for any trigger, row- or statement-level
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION cliniloop_audit_append_only()",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == 'sqlite' else POSTGRES_TRIGGERS if dialect == 'postgresql' else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_reused_id")
    elif dialect == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
