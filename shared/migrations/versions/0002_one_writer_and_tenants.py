"""one writer of case state; external ids unique per tenant; refused actions visible

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An upstream key posts into its tenant; cases posted before tenants existed belong to their poster.
    op.add_column('cases', sa.Column('tenant', sa.Text(), nullable=True))
    op.execute("UPDATE cases SET tenant = created_by")
    op.alter_column('cases', 'tenant', nullable=False)
    op.drop_constraint('cases_external_id_key', 'cases', type_='unique')
    op.create_unique_constraint('uq_cases_tenant_external_id', 'cases', ['tenant', 'external_id'])
    # A case whose platform actions were refused is closed, but not done: the queue can filter it.
    op.add_column('cases', sa.Column('actions_refused', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_cases_refused', 'cases', ['seq'], postgresql_where=sa.text('actions_refused'))


def downgrade() -> None:
    op.drop_index('ix_cases_refused', 'cases')
    op.drop_column('cases', 'actions_refused')
    op.drop_constraint('uq_cases_tenant_external_id', 'cases', type_='unique')
    op.create_unique_constraint('cases_external_id_key', 'cases', ['external_id'])
    op.drop_column('cases', 'tenant')
