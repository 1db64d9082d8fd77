"""complaints: an appeal says who brought it (a supervisor, the affected user, the notifier), on what basis

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A complaint (DSA Art. 20) comes from the people the decision concerns, forwarded by their
    # platform with its own reference (so it can tell them the outcome, and send the same complaint
    # again without filing it twice); a supervisor's appeal has neither basis nor reference.
    op.add_column('appeals', sa.Column('source', sa.Text(), nullable=False, server_default='supervisor'))
    op.add_column('appeals', sa.Column('basis', sa.Text(), nullable=True))
    op.add_column('appeals', sa.Column('reference', sa.Text(), nullable=True))
    op.create_index('uq_appeals_reference', 'appeals', ['case_id', 'reference'], unique=True,
                    postgresql_where=sa.text('reference IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_appeals_reference', table_name='appeals')
    for column in ('reference', 'basis', 'source'):
        op.drop_column('appeals', column)
