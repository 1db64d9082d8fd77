"""appeal windows and finality for cases decided before 0005

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

A case closed before appeal windows existed gets the window it would have had (APPEAL_WINDOW_DAYS
from when it closed, its last update), so the scheduler makes it final in time; a case that had
closed on its own is final already (from then), and its graph thread ends as new ones do (see
shared/threads.py). Without this, those cases would stay appealable and keep their checkpoints
forever.
"""

from alembic import op
import sqlalchemy as sa

from shared.settings import get_settings

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _settings():
    # `vigil migrate` passes its settings; plain `alembic upgrade` reads the environment.
    return op.get_context().config.attributes.get("settings") or get_settings()


def upgrade() -> None:
    op.execute(sa.text("""
        UPDATE cases SET appealable_until = updated_at + make_interval(secs => :days * 86400)
        WHERE status = 'closed' AND appealable_until IS NULL AND final_at IS NULL""").bindparams(
        days=_settings().appeal_window_days))
    op.execute("UPDATE cases SET final_at = updated_at WHERE status = 'auto_closed' AND final_at IS NULL")
    # The checkpointer's tables are created after the migrations (`vigil migrate`): on a new
    # database they do not exist yet, and there is nothing to end.
    op.execute("""
        DO $$
        BEGIN
            IF to_regclass('checkpoints') IS NOT NULL THEN
                DELETE FROM checkpoints WHERE thread_id IN (SELECT id::text FROM cases WHERE status = 'auto_closed');
                DELETE FROM checkpoint_writes WHERE thread_id IN (SELECT id::text FROM cases WHERE status = 'auto_closed');
                DELETE FROM checkpoint_blobs WHERE thread_id IN (SELECT id::text FROM cases WHERE status = 'auto_closed');
            END IF;
        END $$;""")


def downgrade() -> None:
    pass  # the windows and final marks stay correct under 0005; the deleted threads are not needed
