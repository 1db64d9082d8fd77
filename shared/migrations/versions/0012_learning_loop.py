"""the learning loop: quality samples reviewed blind, a model registry, each tenant's model and thresholds

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The models an analysis can be scored with: the shipped one (its file is in the package) and the
    # candidates trained from a tenant's decisions (their file here, bound to that tenant).
    op.create_table('analyser_models',
                    sa.Column('id', sa.Text(), primary_key=True),  # name@version, the version its SHA-256
                    sa.Column('tenant', sa.Text(), nullable=True),  # whose decisions trained it; NULL: shipped
                    sa.Column('origin', sa.Text(), nullable=False),  # shipped | decisions
                    sa.Column('body', sa.LargeBinary(), nullable=True),
                    sa.Column('trained_on', JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
                    sa.Column('evaluation', JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
                    sa.Column('created_by', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    # Which model scores a tenant's cases, which one is shadowed beside it, with which thresholds:
    # versioned like the platform connections, the newest in force; every change (a switch, a
    # promotion with its gate, an undo, new thresholds) is a version: who, when, what and why.
    op.create_table('model_assignments',
                    sa.Column('tenant', sa.Text(), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('model_id', sa.Text(), sa.ForeignKey('analyser_models.id'), nullable=False),
                    sa.Column('shadow_model_id', sa.Text(), sa.ForeignKey('analyser_models.id'), nullable=True),
                    sa.Column('shadow_until', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('thresholds', JSONB(), nullable=True),  # NULL: the settings'
                    sa.Column('change', sa.Text(), nullable=False),
                    sa.Column('gate', JSONB(), nullable=True),  # a promotion's numbers
                    sa.Column('created_by', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
                    sa.PrimaryKeyConstraint('tenant', 'version'))
    op.execute("""
        CREATE FUNCTION model_assignments_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'model_assignments keeps its history: % refused (add a version)', TG_OP;
        END $$;
        CREATE TRIGGER model_assignments_history BEFORE UPDATE OR DELETE ON model_assignments
            FOR EACH ROW EXECUTE FUNCTION model_assignments_history();
    """)
    # A closed case drawn for a blind second look. The sample outlives its case (retention purges the
    # content, not the figures): case_id is then NULL, and the reviewed verdicts stay countable.
    op.create_table('qa_samples',
                    sa.Column('id', UUID(as_uuid=True), primary_key=True),
                    sa.Column('case_id', UUID(as_uuid=True), sa.ForeignKey('cases.id', ondelete='SET NULL'),
                              nullable=True),
                    sa.Column('tenant', sa.Text(), nullable=False),
                    sa.Column('round', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.Text(), nullable=False),  # auto (closed on its own) | human
                    sa.Column('category', sa.Text(), nullable=False),  # the analysis'
                    sa.Column('model', sa.Text(), nullable=False),  # the fast model's name@version
                    sa.Column('first_decision', sa.Text(), nullable=True),  # a human case's
                    sa.Column('rate', sa.Float(), nullable=False),
                    sa.Column('draw', sa.Float(), nullable=True),  # the random number under the rate
                    sa.Column('reason', sa.Text(), nullable=False),  # rate | daily_minimum
                    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
                    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('claimed_by', sa.Text(), nullable=True),
                    sa.Column('claim_expires_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('reviewed_by', sa.Text(), nullable=True),
                    sa.Column('decision', sa.Text(), nullable=True),
                    sa.Column('violation', sa.Text(), nullable=True),  # the category the reviewer found
                    sa.Column('note', sa.Text(), nullable=True),
                    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('reopened', sa.Boolean(), nullable=False, server_default=sa.false()),
                    sa.UniqueConstraint('case_id', 'round', name='uq_qa_samples_case_round'))
    op.create_index('ix_qa_samples_open', 'qa_samples', ['drawn_at'], postgresql_where=sa.text('reviewed_at IS NULL'))
    op.create_index('ix_qa_samples_closed_at', 'qa_samples', ['tenant', 'closed_at'])
    # What a shadowed candidate said of a live case: recorded once per analysis, never routing.
    op.create_table('shadow_scores',
                    sa.Column('case_id', UUID(as_uuid=True), sa.ForeignKey('cases.id', ondelete='CASCADE'),
                              nullable=False),
                    sa.Column('round', sa.Integer(), nullable=False),
                    sa.Column('attempt', sa.Integer(), nullable=False),
                    sa.Column('model_id', sa.Text(), nullable=False),
                    sa.Column('tenant', sa.Text(), nullable=False),
                    sa.Column('needs_review', sa.Boolean(), nullable=False),
                    sa.Column('active_model', sa.Text(), nullable=False),
                    sa.Column('active_needs_review', sa.Boolean(), nullable=False),
                    sa.Column('scores', JSONB(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
                    sa.PrimaryKeyConstraint('case_id', 'round', 'attempt', 'model_id'))
    op.create_index('ix_shadow_scores_model', 'shadow_scores', ['model_id', 'created_at'])


def downgrade() -> None:
    op.drop_table('shadow_scores')
    op.drop_table('qa_samples')
    op.execute("DROP TRIGGER model_assignments_history ON model_assignments")
    op.execute("DROP FUNCTION model_assignments_history()")
    op.drop_table('model_assignments')
    op.drop_table('analyser_models')
