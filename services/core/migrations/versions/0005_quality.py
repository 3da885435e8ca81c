"""quality: adjudications, gold answers, an append-only audit trail

``adjudications`` holds tasks whose annotators disagree and the reviewer's result;
``gold_answers`` the known answers of gold-check tasks. Triggers make ``audit_events``
append-only (UPDATE and DELETE are refused by the database itself).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION cliniloop_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION cliniloop_audit_append_only()",
]


def upgrade() -> None:
    op.create_table('adjudications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('agreement', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('annotation_ids', sa.JSON(), nullable=False),
    sa.Column('annotators', sa.JSON(), nullable=False),
    sa.Column('source_project_ref', sa.String(length=512), nullable=True),
    sa.Column('project_ref', sa.String(length=512), nullable=True),
    sa.Column('external_task_id', sa.Integer(), nullable=True),
    sa.Column('regions', sa.JSON(), nullable=True),
    sa.Column('reviewer', sa.String(length=256), nullable=True),
    sa.Column('review_annotation_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id')
    )
    with op.batch_alter_table('adjudications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adjudications_modality'), ['modality'], unique=False)
        batch_op.create_index(batch_op.f('ix_adjudications_status'), ['status'], unique=False)
    op.create_table('gold_answers',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=256), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id')
    )
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == 'sqlite' else POSTGRES_TRIGGERS if dialect == 'postgresql' else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    elif dialect == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    op.drop_table('gold_answers')
    with op.batch_alter_table('adjudications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adjudications_status'))
        batch_op.drop_index(batch_op.f('ix_adjudications_modality'))
    op.drop_table('adjudications')
