"""audit trail: a BRIN index on the time of each event

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The transparency figures read the audit trail of a period. The log is appended in time order,
    # so a BRIN index (a few pages, next to nothing per insert, unlike a B-tree on every move) lets
    # a period's scan skip the rest of the years kept.
    op.execute("CREATE INDEX ix_audit_events_at_brin ON audit_events USING brin (at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_events_at_brin")
