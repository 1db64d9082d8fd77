"""The events outbox: what the platform's subscribers hear of a case.

Every change of a case's status (written by the one writer, `shared.transitions`) and every
platform action executed or reversed (the worker's ledger) appends a `case_events` row in the
change's own transaction, and fans it out there to one `webhook_deliveries` row per subscriber
whose filter matches: so a change and its deliveries commit together or not at all, and each
subscriber's rows can be worked (and fail) on their own. The dispatcher (`services/dispatcher`)
delivers them. A subscriber registered later hears of changes from then on.

Event types: `case.<status>` for a change of status, `case.final` when a case's appeal window
closes (the scheduler; no appeal is possible from then), `action.executed`, `action.reversed`, and
`statement.issued` / `statement.reversed` for statements of reasons, `complaint.decided` when the
review a complaint opened is decided (the platform tells the complainant). A subscriber's `events` holds
types, `<prefix>.*`, or `*`; its `tenant`, when set, limits it to that upstream's cases.
"""

from shared.domain import Status

ACTION_EXECUTED = "action.executed"
ACTION_REVERSED = "action.reversed"
STATEMENT_ISSUED = "statement.issued"
STATEMENT_REVERSED = "statement.reversed"
CASE_FINAL = "case.final"  # not a status: a closed case whose appeal window closed
COMPLAINT_DECIDED = "complaint.decided"  # the outcome of a complaint the platform forwarded


def status_event(status: str) -> str:
    return f"case.{status}"


def appended(rows: str, *, deduped: bool = False) -> str:
    """CTEs, to follow others in a WITH, that append the events `rows` gives and fan each out to
    every subscriber it matches: `rows` is a select list and its FROM, without the SELECT, giving
    case_id, tenant, type, status, data (and, when `deduped`, a dedupe key: an event a step that runs
    again after a crash appends once). The appended events are the CTE `appended_events`."""
    columns = "case_id, tenant, type, status, data" + (", dedupe_key" if deduped else "")
    # (no conflict clause on the hot path's events: a plain insert is cheaper than a speculative one)
    conflict = "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING" if deduped else ""
    return f""", appended_events AS (
        INSERT INTO case_events (id, {columns})
        SELECT gen_random_uuid(), {rows}
        {conflict}
        RETURNING id, seq, case_id, tenant, type
    ), fanned_out AS (
        INSERT INTO webhook_deliveries (webhook_id, event_id, case_id, event_seq)
        SELECT w.id, e.id, e.case_id, e.seq FROM appended_events e
        JOIN webhooks w ON (w.tenant IS NULL OR w.tenant = e.tenant)
                       AND w.events && ARRAY['*', e.type, split_part(e.type, '.', 1) || '.*']
    )"""


# One event about a case where it stands, once per dedupe key: %(case_id)s, %(type)s, %(data)s,
# %(dedupe_key)s (for tests and tools; the writers append theirs in their own statements).
EMIT = f"""
    WITH here AS (SELECT id, tenant, status FROM cases WHERE id = %(case_id)s){
        appended("id, tenant, %(type)s, status, %(data)s, %(dedupe_key)s FROM here", deduped=True)}
    SELECT count(*) FROM appended_events"""


def types() -> frozenset[str]:
    """Every event type a subscriber can hear (a status added to `Status` is an event type too)."""
    return frozenset({status_event(status) for status in Status}
                     | {CASE_FINAL, ACTION_EXECUTED, ACTION_REVERSED, STATEMENT_ISSUED, STATEMENT_REVERSED,
                        COMPLAINT_DECIDED})


def known_filter(pattern: str) -> bool:
    """A subscriber's filter names a type, a `<prefix>.*` of existing types, or `*` (what fan_out matches)."""
    known = types()
    if pattern == "*" or pattern in known:
        return True
    prefix, dot, star = pattern.partition(".")
    return star == "*" and any(type.startswith(f"{prefix}.") for type in known)
