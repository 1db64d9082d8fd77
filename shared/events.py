"""The events outbox: what the platform's subscribers hear of a case.

Every change of a case's status (written by the one writer, `shared.transitions`) and every
platform action executed or reversed (the worker's ledger) appends a `case_events` row in the
change's own transaction, and fans it out there to one `webhook_deliveries` row per subscriber
whose filter matches: so a change and its deliveries commit together or not at all, and each
subscriber's rows can be worked (and fail) on their own. The dispatcher (`services/dispatcher`)
delivers them. A subscriber registered later hears of changes from then on.

Event types: `case.<status>` for a change of status, `case.final` when a case's appeal window
closes (the scheduler; no appeal is possible from then), `action.executed`, `action.reversed`, and
`statement.issued` / `statement.reversed` for statements of reasons. A subscriber's `events` holds
types, `<prefix>.*`, or `*`; its `tenant`, when set, limits it to that upstream's cases.
"""

from shared.domain import Status

ACTION_EXECUTED = "action.executed"
ACTION_REVERSED = "action.reversed"
STATEMENT_ISSUED = "statement.issued"
STATEMENT_REVERSED = "statement.reversed"
CASE_FINAL = "case.final"  # not a status: a closed case whose appeal window closed


def status_event(status: str) -> str:
    return f"case.{status}"


def fan_out(events: str) -> str:
    """The INSERT that gives each event of the CTE `events` (id, seq, case_id, tenant, type) to every
    subscriber it matches."""
    return f"""
        INSERT INTO webhook_deliveries (webhook_id, event_id, case_id, event_seq)
        SELECT w.id, e.id, e.case_id, e.seq FROM {events} e
        JOIN webhooks w ON (w.tenant IS NULL OR w.tenant = e.tenant)
                       AND w.events && ARRAY['*', e.type, split_part(e.type, '.', 1) || '.*']"""


# One event about a case where it stands, once per dedupe key (a step that runs again after a crash
# emits it once): %(case_id)s, %(type)s, %(data)s, %(dedupe_key)s.
EMIT = f"""
    WITH emitted AS (
        INSERT INTO case_events (id, case_id, tenant, type, status, data, dedupe_key)
        SELECT gen_random_uuid(), id, tenant, %(type)s, status, %(data)s, %(dedupe_key)s FROM cases
        WHERE id = %(case_id)s
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
        RETURNING id, seq, case_id, tenant, type
    ), fanned AS ({fan_out("emitted")}
    )
    SELECT count(*) FROM emitted"""


def types() -> frozenset[str]:
    """Every event type a subscriber can hear (a status added to `Status` is an event type too)."""
    return frozenset({status_event(status) for status in Status}
                     | {CASE_FINAL, ACTION_EXECUTED, ACTION_REVERSED, STATEMENT_ISSUED, STATEMENT_REVERSED})


def known_filter(pattern: str) -> bool:
    """A subscriber's filter names a type, a `<prefix>.*` of existing types, or `*` (what fan_out matches)."""
    known = types()
    if pattern == "*" or pattern in known:
        return True
    prefix, dot, star = pattern.partition(".")
    return star == "*" and any(type.startswith(f"{prefix}.") for type in known)
