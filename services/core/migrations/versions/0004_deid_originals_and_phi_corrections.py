"""de-identification: original notes kept apart, PHI corrections

``original_notes`` holds original note text only when CLINILOOP_DEID_KEEP_ORIGINAL is on;
``phi_corrections`` holds identifiers annotators marked as missed (offsets and type only).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('original_notes',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id')
    )
    op.create_table('phi_corrections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('source_annotation_id', sa.String(length=128), nullable=False),
    sa.Column('annotator', sa.String(length=256), nullable=True),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('detector_version', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_annotation_id', 'start', 'end', name='uq_phi_correction_span')
    )
    with op.batch_alter_table('phi_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phi_corrections_source_annotation_id'), ['source_annotation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phi_corrections_task_id'), ['task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phi_corrections_type'), ['type'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('phi_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phi_corrections_type'))
        batch_op.drop_index(batch_op.f('ix_phi_corrections_task_id'))
        batch_op.drop_index(batch_op.f('ix_phi_corrections_source_annotation_id'))
    op.drop_table('phi_corrections')
    op.drop_table('original_notes')
