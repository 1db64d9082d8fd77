"""callbacks, statements of reasons, appeal windows, retention

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The events outbox: every change of a case, written by the one writer in the change's transaction.
    op.create_table('case_events',
                    sa.Column('id', UUID(as_uuid=True), primary_key=True),
                    sa.Column('seq', sa.BigInteger(), sa.Identity(), nullable=False),
                    sa.Column('case_id', UUID(as_uuid=True), sa.ForeignKey('cases.id', ondelete='CASCADE'),
                              nullable=False, index=True),
                    sa.Column('tenant', sa.Text(), nullable=False),
                    sa.Column('type', sa.Text(), nullable=False),
                    sa.Column('status', sa.Text(), nullable=False),
                    sa.Column('data', JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
                    sa.Column('dedupe_key', sa.Text(), nullable=True),
                    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    # Every move appends an event: as few B-trees as will do. Only the worker's events (actions,
    # statements) carry a dedupe key; the time index serves the retention purge and is BRIN (events
    # are appended in time order); `seq` is an identity, unique without an index.
    op.create_index('uq_case_events_dedupe_key', 'case_events', ['dedupe_key'], unique=True,
                    postgresql_where=sa.text('dedupe_key IS NOT NULL'))
    op.create_index('ix_case_events_occurred_at', 'case_events', ['occurred_at'], postgresql_using='brin')
    # Subscribers: `kind` 'events' gets one event per POST, 'statements' gets statements in batches.
    op.create_table('webhooks',
                    sa.Column('id', UUID(as_uuid=True), primary_key=True),
                    sa.Column('url', sa.Text(), nullable=False),
                    sa.Column('events', ARRAY(sa.Text()), nullable=False),
                    sa.Column('secret', sa.Text(), nullable=False),
                    sa.Column('tenant', sa.Text(), nullable=True),  # only this upstream's cases; NULL: all
                    sa.Column('kind', sa.Text(), nullable=False, server_default='events'),
                    sa.Column('created_by', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    # One row per event and subscriber, fanned out in the change's transaction.
    op.create_table('webhook_deliveries',
                    sa.Column('id', sa.BigInteger(), sa.Identity(), primary_key=True),
                    sa.Column('webhook_id', UUID(as_uuid=True), sa.ForeignKey('webhooks.id', ondelete='CASCADE'),
                              nullable=False),
                    sa.Column('event_id', UUID(as_uuid=True), sa.ForeignKey('case_events.id', ondelete='CASCADE'),
                              nullable=False),
                    sa.Column('case_id', UUID(as_uuid=True), nullable=False),
                    sa.Column('event_seq', sa.BigInteger(), nullable=False),
                    sa.Column('status', sa.Text(), nullable=False, server_default='pending'),
                    sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
                    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False,
                              server_default=sa.func.now()),
                    sa.Column('leased_until', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('last_error', sa.Text(), nullable=True),
                    sa.Column('last_status_code', sa.Integer(), nullable=True),
                    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('dead_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
                    sa.UniqueConstraint('event_id', 'webhook_id'))  # also the index of event_id
    op.create_index('ix_deliveries_due', 'webhook_deliveries', ['webhook_id', 'next_attempt_at'],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_deliveries_case_order', 'webhook_deliveries', ['webhook_id', 'case_id', 'event_seq'],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_deliveries_dead', 'webhook_deliveries', ['webhook_id', 'dead_at'],
                    postgresql_where=sa.text("status = 'dead'"))
    # Statements of reasons (EU DSA Art. 17), one per restricting decision executed.
    op.create_table('statements',
                    sa.Column('id', UUID(as_uuid=True), primary_key=True),
                    sa.Column('case_id', UUID(as_uuid=True), sa.ForeignKey('cases.id', ondelete='CASCADE'),
                              nullable=False, index=True),
                    sa.Column('round', sa.Integer(), nullable=False),
                    sa.Column('decision', sa.Text(), nullable=False),
                    sa.Column('body', JSONB(), nullable=False),
                    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
                    sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('reversal', JSONB(), nullable=True),
                    sa.UniqueConstraint('case_id', 'round'))
    op.create_index('ix_statements_issued_at', 'statements', ['issued_at'])
    # Appeal windows: set when a decision has executed; `final_at` once the window closed.
    op.add_column('cases', sa.Column('appealable_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('cases', sa.Column('final_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_cases_appeal_window', 'cases', ['appealable_until'],
                    postgresql_where=sa.text("status = 'closed' AND final_at IS NULL"))
    op.create_index('ix_cases_final_at', 'cases', ['final_at'], postgresql_where=sa.text('final_at IS NOT NULL'))
    # Retention: the audit log stays append-only, except for the scheduler's purge of records past
    # AUDIT_RETENTION_DAYS, which sets `vigil.retention_purge` for its own transaction only.
    op.execute("""
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('vigil.retention_purge', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
        END $$;""")


def downgrade() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
        END $$;""")
    op.drop_index('ix_cases_final_at', 'cases')
    op.drop_index('ix_cases_appeal_window', 'cases')
    op.drop_column('cases', 'final_at')
    op.drop_column('cases', 'appealable_until')
    op.drop_table('statements')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
    op.drop_table('case_events')
