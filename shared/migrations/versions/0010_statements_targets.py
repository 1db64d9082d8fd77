"""statements targets: a tenant's statements endpoint on its connection, the answer of each delivery

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_HISTORY = """
    CREATE OR REPLACE FUNCTION platform_connections_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND (NEW.tenant, NEW.version, NEW.base_url, NEW.timeout, NEW.removed, NEW.changed,
                                 NEW.created_by, NEW.created_at{extra_new})
                                IS NOT DISTINCT FROM
                                (OLD.tenant, OLD.version, OLD.base_url, OLD.timeout, OLD.removed, OLD.changed,
                                 OLD.created_by, OLD.created_at{extra_old}) THEN
            RETURN NEW;  -- re-encryption: the sealed secrets alone
        END IF;
        RAISE EXCEPTION 'platform_connections keeps its history: % refused (add a version)', TG_OP;
    END $$"""


def upgrade() -> None:
    # Where the tenant's statements of reasons go (the DSA Transparency Database, or an endpoint of
    # the platform's own), how (`statements_kind`) and with which token (sealed like the secret).
    # The `webhooks` row that fans them out is kept in step by the writer of each version.
    op.add_column('platform_connections', sa.Column('statements_url', sa.Text(), nullable=True))
    op.add_column('platform_connections', sa.Column('statements_kind', sa.Text(), nullable=True))
    op.add_column('platform_connections', sa.Column('statements_token', sa.LargeBinary(), nullable=True))
    op.execute(_HISTORY.format(extra_new=", NEW.statements_url, NEW.statements_kind",
                               extra_old=", OLD.statements_url, OLD.statements_kind"))
    # What the subscriber answered a delivered one (the Transparency Database: the statement's uuid
    # and permalink, or that it had the puid already).
    op.add_column('webhook_deliveries', sa.Column('answer', JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column('webhook_deliveries', 'answer')
    op.execute(_HISTORY.format(extra_new="", extra_old=""))
    op.drop_column('platform_connections', 'statements_token')
    op.drop_column('platform_connections', 'statements_kind')
    op.drop_column('platform_connections', 'statements_url')
