"""platform connections: one per tenant, versioned, their secrets sealed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each change is a new version (who, when, which fields): the rows are the connection's history
    # and its audit trail. The newest version is in force; one with `removed` sends the tenant back
    # to the default connection (PLATFORM_URL). Only re-encryption rewrites a row, and only its
    # sealed secret (a trigger refuses any other change, and every delete).
    op.create_table('platform_connections',
                    sa.Column('tenant', sa.Text(), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('base_url', sa.Text(), nullable=True),
                    sa.Column('secret', sa.LargeBinary(), nullable=True),  # AES-GCM, shared/secretbox.py
                    sa.Column('timeout', sa.Float(), nullable=True),
                    sa.Column('removed', sa.Boolean(), nullable=False, server_default=sa.false()),
                    sa.Column('changed', ARRAY(sa.Text()), nullable=False),
                    sa.Column('created_by', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
                    sa.PrimaryKeyConstraint('tenant', 'version'))
    op.execute("""
        CREATE FUNCTION platform_connections_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND (NEW.tenant, NEW.version, NEW.base_url, NEW.timeout, NEW.removed, NEW.changed,
                                     NEW.created_by, NEW.created_at)
                                    IS NOT DISTINCT FROM
                                    (OLD.tenant, OLD.version, OLD.base_url, OLD.timeout, OLD.removed, OLD.changed,
                                     OLD.created_by, OLD.created_at) THEN
                RETURN NEW;  -- re-encryption: the sealed secret alone
            END IF;
            RAISE EXCEPTION 'platform_connections keeps its history: % refused (add a version)', TG_OP;
        END $$;
        CREATE TRIGGER platform_connections_history BEFORE UPDATE OR DELETE ON platform_connections
            FOR EACH ROW EXECUTE FUNCTION platform_connections_history();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER platform_connections_history ON platform_connections")
    op.execute("DROP FUNCTION platform_connections_history()")
    op.drop_table('platform_connections')
