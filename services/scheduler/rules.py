"""The timed rules. Each is one statement over the rows that are due, `FOR UPDATE SKIP LOCKED`, so
any number of schedulers can run: a due row is handled by exactly one of them, and a rule that
finds nothing due costs one index probe."""

from sqlalchemy import Connection, text

SCHEDULER = "system:scheduler"
BATCH = 500

# A case past its deadline: more urgent, its claim released, a new deadline, optionally over to the
# supervisors (a first-round case only: later rounds are theirs already); and on the record.
ESCALATE_OVERDUE = text(f"""
    WITH overdue AS (
        SELECT id, claimed_by FROM cases
        WHERE status = 'awaiting_review' AND due_at <= now()
        ORDER BY due_at LIMIT {BATCH}
        FOR UPDATE SKIP LOCKED
    ), escalated AS (
        UPDATE cases c SET
            priority = c.priority + :step, escalations = c.escalations + 1,
            escalated_to_supervisors = c.escalated_to_supervisors OR (:to_supervisors AND c.review_round = 1),
            due_at = now() + coalesce((SELECT target FROM review_targets WHERE severity = c.analysis ->> 'severity'),
                                      interval '24 hours'),
            claimed_by = NULL, claim_expires_at = NULL, version = c.version + 1
        FROM overdue WHERE c.id = overdue.id
        RETURNING c.id, c.status, c.priority, c.escalations, c.escalated_to_supervisors, c.due_at,
                  overdue.claimed_by AS released_from
    ), recorded AS (
        INSERT INTO audit_events (case_id, actor, event, from_status, to_status, data)
        SELECT id, '{SCHEDULER}', 'case_escalated', status, status,
               jsonb_build_object('priority', priority, 'escalations', escalations, 'due_at', due_at,
                                  'to_supervisors', escalated_to_supervisors, 'claim_released_from', released_from)
        FROM escalated
    )
    SELECT count(*) FROM escalated""")

# A claim whose lease ran out is free already (every reader compares the time); this puts the
# expiry on the record and clears the columns.
EXPIRE_CLAIMS = text(f"""
    WITH lapsed AS (
        SELECT id, claimed_by, claim_expires_at FROM cases
        WHERE claimed_by IS NOT NULL AND claim_expires_at <= now()
        LIMIT {BATCH}
        FOR UPDATE SKIP LOCKED
    ), cleared AS (
        UPDATE cases c SET claimed_by = NULL, claim_expires_at = NULL, version = c.version + 1
        FROM lapsed WHERE c.id = lapsed.id
        RETURNING c.id, lapsed.claimed_by, lapsed.claim_expires_at
    ), recorded AS (
        INSERT INTO audit_events (case_id, actor, event, data)
        SELECT id, '{SCHEDULER}', 'claim_expired', jsonb_build_object('by', claimed_by, 'expired_at', claim_expires_at)
        FROM cleared
    )
    SELECT count(*) FROM cleared""")


def escalate_overdue(conn: Connection, *, step: int, to_supervisors: bool) -> int:
    return conn.execute(ESCALATE_OVERDUE, {"step": step, "to_supervisors": to_supervisors}).scalar()


def expire_claims(conn: Connection) -> int:
    return conn.execute(EXPIRE_CLAIMS).scalar()
