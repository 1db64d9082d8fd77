"""Appeal windows closing: a decided case whose window has passed becomes final.

A decision executed opens a window of APPEAL_WINDOW_DAYS (the one writer sets `appealable_until`
when the case closes, and refuses an appeal once it has passed). When it has, this rule makes the
case final in one statement: `final_at`, the audit event `appeal_window_closed`, the `case.final`
event for the platform's subscribers, and the end of its graph thread (its checkpoints deleted, see
`shared.threads`). Its audit trail, decisions, actions and statement of reasons stay, until
retention purges them (`retention.py`).

The row lock settles a race with an appeal: an appeal that moved the case first leaves it
`rolling_back` (not due here); one that comes second finds it final and is refused by the one
writer's own check. A case that closes on its own (`auto_closed`) is final at once, in the one
writer's move: nothing is left for this rule.
"""

from sqlalchemy import Connection, text

from shared import events, threads
from services.scheduler.rules import BATCH, SCHEDULER

_FINAL_EVENT = events.appended(f"""id, tenant, '{events.CASE_FINAL}', status,
               jsonb_build_object('round', review_round, 'appealable_until', appealable_until, 'final_at', final_at)
        FROM finalized""")
CLOSE_WINDOWS = text(f"""
    WITH due AS (
        SELECT id FROM cases
        WHERE status = 'closed' AND final_at IS NULL AND appealable_until <= now()
        ORDER BY appealable_until LIMIT {BATCH}
        FOR UPDATE SKIP LOCKED
    ), finalized AS (
        UPDATE cases c SET final_at = now(), version = c.version + 1, updated_at = now()
        FROM due WHERE c.id = due.id
        RETURNING c.id, c.tenant, c.status, c.review_round, c.appealable_until, c.final_at
    ), recorded AS (
        INSERT INTO audit_events (case_id, actor, event, from_status, to_status, data)
        SELECT id, '{SCHEDULER}', 'appeal_window_closed', status, status,
               jsonb_build_object('appealable_until', appealable_until, 'round', review_round)
        FROM finalized
    ){_FINAL_EVENT}{threads.ending("finalized")}
    SELECT (SELECT count(*) FROM finalized) AS cases, {threads.ended_rows()} AS checkpoint_rows""")


def close_appeal_windows(conn: Connection) -> tuple[int, int]:
    """Make final every closed case whose appeal window has passed (a batch); returns how many
    cases and how many checkpoint rows went with them."""
    cases, checkpoint_rows = conn.execute(CLOSE_WINDOWS).one()
    return cases, checkpoint_rows
