"""code mappings

The validated mapping table: coders' verdicts on mention → code candidates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('code_mappings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('mention', sa.Text(), nullable=False),
    sa.Column('normalized_mention', sa.String(length=512), nullable=False),
    sa.Column('context', sa.Text(), nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('coder', sa.String(length=256), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('source_annotation_id', sa.String(length=128), nullable=False),
    sa.Column('taxonomy_version', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_annotation_id', 'system', name='uq_code_mapping_source_system')
    )
    with op.batch_alter_table('code_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_mappings_normalized_mention'), ['normalized_mention'], unique=False)
        batch_op.create_index(batch_op.f('ix_code_mappings_task_id'), ['task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('code_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_mappings_task_id'))
        batch_op.drop_index(batch_op.f('ix_code_mappings_normalized_mention'))
    op.drop_table('code_mappings')
