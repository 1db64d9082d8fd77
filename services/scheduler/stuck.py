"""Stuck cases: a case that sits in a working status with no message on its way is nudged.

Each step of a case is carried by one message; were that message ever lost after RabbitMQ
confirmed it (a broker that lost its disk, a queue purged by hand), the case would wait forever.
The worker reconciles a case with whatever is on record, so a fresh `retry` message is always
safe: it continues the case if work is owed and does nothing otherwise.
"""

import logging

from sqlalchemy import Connection, text

from shared.db import OUTBOX_CHANNEL
from shared.domain import CommandKind
from shared.transitions import WORKING
from services.scheduler.rules import BATCH, SCHEDULER

log = logging.getLogger(__name__)

NUDGE_STUCK_CASES = text(f"""
    WITH stuck AS (
        SELECT c.id, c.status FROM cases c
        WHERE c.status = ANY(:working)
          AND c.updated_at < now() - make_interval(secs => :after)
          AND NOT EXISTS (
              SELECT 1 FROM outbox o
              WHERE o.case_id = c.id AND (o.published_at IS NULL OR o.published_at > now() - make_interval(secs => :after)))
        ORDER BY c.updated_at
        LIMIT {BATCH}
        FOR UPDATE OF c SKIP LOCKED
    ), nudged AS (
        INSERT INTO outbox (id, case_id, kind, publish_attempts)
        SELECT gen_random_uuid(), id, '{CommandKind.RETRY}', 0 FROM stuck
        RETURNING case_id
    ), recorded AS (
        INSERT INTO audit_events (case_id, actor, event, from_status, to_status, data)
        SELECT id, '{SCHEDULER}', 'case_nudged', status, status,
               jsonb_build_object('reason', 'no message on its way for ' || :after || ' s')
        FROM stuck
    )
    SELECT count(*) FROM nudged
""")


def nudge_stuck_cases(conn: Connection, *, stuck_after_seconds: float) -> int:
    """Enqueue a retry for every case stuck longer than `stuck_after_seconds`; returns how many."""
    nudged = conn.execute(NUDGE_STUCK_CASES, {"working": [str(s) for s in WORKING], "after": stuck_after_seconds}).scalar()
    if nudged:
        conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        log.warning("nudged %d case(s) that had no message on their way", nudged)
    return nudged
