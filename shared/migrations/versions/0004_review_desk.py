"""review desk: priority, deadlines, claims, escalation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# What the one writer reads when a case enters review: its priority and how long it may wait.
# `vigil migrate` and `vigil scheduler` rewrite the targets from the REVIEW_TARGETS setting.
DEFAULTS = [("critical", 40, "1 hour"), ("high", 30, "4 hours"), ("medium", 20, "24 hours"),
            ("low", 10, "72 hours"), ("none", 0, "72 hours")]


def upgrade() -> None:
    op.create_table('review_targets',
                    sa.Column('severity', sa.Text(), primary_key=True),
                    sa.Column('priority', sa.Integer(), nullable=False),
                    sa.Column('target', sa.Interval(), nullable=False))
    for severity, priority, target in DEFAULTS:
        op.execute(f"INSERT INTO review_targets VALUES ('{severity}', {priority}, interval '{target}')")
    op.add_column('cases', sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
    op.add_column('cases', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('cases', sa.Column('escalations', sa.Integer(), server_default='0', nullable=False))
    op.add_column('cases', sa.Column('escalated_to_supervisors', sa.Boolean(), server_default=sa.false(),
                                     nullable=False))
    op.add_column('cases', sa.Column('claimed_by', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('claim_expires_at', sa.DateTime(timezone=True), nullable=True))
    # The review queue: most urgent first, then oldest; and the scheduler's look for overdue cases.
    op.create_index('ix_cases_queue', 'cases', ['status', sa.text('priority DESC'), 'seq'])
    op.create_index('ix_cases_due', 'cases', ['due_at'], postgresql_where=sa.text("status = 'awaiting_review'"))
    op.create_index('ix_cases_claims', 'cases', ['claim_expires_at'], postgresql_where=sa.text('claimed_by IS NOT NULL'))


def downgrade() -> None:
    for index in ('ix_cases_claims', 'ix_cases_due', 'ix_cases_queue'):
        op.drop_index(index, 'cases')
    for column in ('claim_expires_at', 'claimed_by', 'escalated_to_supervisors', 'escalations', 'due_at', 'priority'):
        op.drop_column('cases', column)
    op.drop_table('review_targets')
