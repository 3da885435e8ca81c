"""de-identification corrections: applied marks and a per-project deny-list

``phi_corrections.applied_at`` says when a marked span was replaced by a surrogate in the task
text, ``synced_at`` when that text reached Label Studio; ``deid_deny_list`` holds keyed digests
(never the text) of corrected identifiers, per scope (the Label Studio text project title),
which the ingest gate matches in later notes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-21 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phi_corrections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('deid_deny_list',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=256), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('tokens', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope', 'digest', name='uq_deid_deny_list_digest')
    )
    with op.batch_alter_table('deid_deny_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deid_deny_list_scope'), ['scope'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deid_deny_list', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deid_deny_list_scope'))
    op.drop_table('deid_deny_list')
    with op.batch_alter_table('phi_corrections', schema=None) as batch_op:
        batch_op.drop_column('synced_at')
        batch_op.drop_column('applied_at')
