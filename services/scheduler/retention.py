"""Retention: what Vigil keeps, and for how long.

- A final case (its appeal window closed, or closed on its own) is kept whole for
  AUDIT_RETENTION_DAYS after it became final: the read model, audit trail, decisions, appeals,
  actions, statements of reasons, events. Then it is deleted with all of that (the foreign keys
  cascade). The audit log refuses DELETE unless the transaction says it is this purge
  (`vigil.retention_purge`, set for the transaction only); the purge leaves its own record in the
  scheduler's log line and metrics, since the case's trail goes with it.
- The events outbox keeps an event EVENTS_RETENTION_DAYS for replay; then an event all of whose
  deliveries are settled (delivered or dead) goes, its deliveries with it (cascade). One with a
  delivery still pending is kept until it settles.

Each rule is one statement over an index of its own (`ix_cases_final_at`,
`ix_case_events_occurred_at`), a batch at a time, SKIP LOCKED where rows can be contended.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, text

from shared import threads
from services.scheduler.rules import BATCH

log = logging.getLogger(__name__)

# The tables a purged case takes with it: counted before they go, for the log line and metrics.
ATTACHED = ("audit_events", "decisions", "appeals", "actions", "statements", "case_events", "outbox",
            "message_attempts")

ARM = text("SELECT set_config('vigil.retention_purge', 'on', true)")

PURGE_CASES = text(f"""
    WITH expired AS (
        SELECT id FROM cases
        WHERE final_at <= now() - make_interval(secs => :keep_seconds)
        ORDER BY final_at LIMIT {BATCH}
        FOR UPDATE SKIP LOCKED
    ), purged AS (
        DELETE FROM cases c USING expired WHERE c.id = expired.id
        RETURNING c.id
    ){threads.ending("expired")}
    SELECT (SELECT count(*) FROM purged) AS cases,
           {", ".join(f"(SELECT count(*) FROM {table} WHERE case_id IN (SELECT id FROM expired)) AS {table}"
                      for table in ATTACHED)},
           {threads.ended_rows()} AS checkpoints""")

PURGE_EVENTS = text(f"""
    WITH expired AS (
        SELECT e.id FROM case_events e
        WHERE e.occurred_at <= now() - make_interval(secs => :keep_seconds)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        ORDER BY e.occurred_at LIMIT {BATCH}
        FOR UPDATE OF e SKIP LOCKED
    ), purged AS (
        DELETE FROM case_events e USING expired WHERE e.id = expired.id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM purged) AS case_events,
           (SELECT count(*) FROM webhook_deliveries WHERE event_id IN (SELECT id FROM expired)) AS webhook_deliveries""")


@dataclass(frozen=True)
class Purged:
    cases: int
    rows: dict[str, int]  # table → rows deleted with them


def purge_final_cases(conn: Connection, *, keep_days: float) -> Purged:
    """Delete a batch of cases final for longer than `keep_days`, with everything attached."""
    conn.execute(ARM)  # for this transaction only: the audit log's trigger lets this purge delete
    row = conn.execute(PURGE_CASES, {"keep_seconds": keep_days * 86400}).one()._asdict()
    cases = row.pop("cases")
    if cases:
        log.info("retention: purged %d case(s) final for more than %g days, with %s", cases, keep_days,
                 ", ".join(f"{count} {table}" for table, count in row.items()))
    return Purged(cases, row)


def purge_settled_events(conn: Connection, *, keep_days: float) -> Purged:
    """Delete a batch of events older than `keep_days` whose deliveries are all settled."""
    row = conn.execute(PURGE_EVENTS, {"keep_seconds": keep_days * 86400}).one()._asdict()
    if row["case_events"]:
        log.info("retention: purged %d event(s) older than %g days and %d settled deliveries", row["case_events"],
                 keep_days, row["webhook_deliveries"])
    return Purged(0, row)
