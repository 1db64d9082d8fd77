"""events: a sequence number per case

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 1, 2, 3… for each case's events, in the order they commit: a subscriber orders and deduplicates
    # by (case_id, case_seq), sees a gap, and asks for a case's events from a number on. A trigger
    # numbers each new event under a per-case transaction lock (its own key space: the worker's run
    # lock is a one-key advisory lock), so writers that do not hold the case's row lock (the ledger)
    # are numbered in commit order too. The unique index is the guard, and replaces the plain
    # case_id one.
    op.add_column('case_events', sa.Column('case_seq', sa.BigInteger(), nullable=True))
    op.execute("""UPDATE case_events e SET case_seq = n.case_seq
                  FROM (SELECT id, row_number() OVER (PARTITION BY case_id ORDER BY seq) AS case_seq
                        FROM case_events) n
                  WHERE e.id = n.id""")
    op.alter_column('case_events', 'case_seq', nullable=False)
    op.create_index('uq_case_events_case_seq', 'case_events', ['case_id', 'case_seq'], unique=True)
    op.drop_index('ix_case_events_case_id', table_name='case_events')
    op.execute("""
        CREATE FUNCTION case_events_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(1735, hashtext(NEW.case_id::text));
            SELECT coalesce(max(case_seq), 0) + 1 INTO NEW.case_seq FROM case_events WHERE case_id = NEW.case_id;
            RETURN NEW;
        END $$""")
    op.execute("""CREATE TRIGGER case_events_numbered BEFORE INSERT ON case_events
                  FOR EACH ROW EXECUTE FUNCTION case_events_numbered()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER case_events_numbered ON case_events")
    op.execute("DROP FUNCTION case_events_numbered()")
    op.create_index('ix_case_events_case_id', 'case_events', ['case_id'])
    op.drop_index('uq_case_events_case_seq', table_name='case_events')
    op.drop_column('case_events', 'case_seq')
