"""key lifecycle: expiry, a non-secret prefix, a tenant, one name across a rotation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_keys', sa.Column('key_prefix', sa.Text(), nullable=True))  # unknown for keys made before
    op.add_column('api_keys', sa.Column('tenant', sa.Text(), nullable=True))
    op.add_column('api_keys', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    # An upstream key's cases belong to its own tenant, named after it, as 0002 did for their cases.
    op.execute("UPDATE api_keys SET tenant = name WHERE role = 'upstream'")
    # A rotation with a grace period leaves two valid keys under one name: the name stays the person.
    op.drop_constraint('api_keys_name_key', 'api_keys', type_='unique')
    op.create_index(op.f('ix_api_keys_name'), 'api_keys', ['name'], unique=False)
    op.create_index(op.f('ix_api_keys_key_prefix'), 'api_keys', ['key_prefix'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_api_keys_key_prefix'), 'api_keys')
    op.drop_index(op.f('ix_api_keys_name'), 'api_keys')
    # Rotated keys share a name; only the newest of each name survives a downgrade.
    op.execute("DELETE FROM api_keys a USING api_keys b WHERE a.name = b.name AND a.created_at < b.created_at")
    op.create_unique_constraint('api_keys_name_key', 'api_keys', ['name'])
    op.drop_column('api_keys', 'expires_at')
    op.drop_column('api_keys', 'tenant')
    op.drop_column('api_keys', 'key_prefix')
