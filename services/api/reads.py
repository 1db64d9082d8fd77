"""What the api reads: a case with everything the console shows and what the caller may do with
it, the queues, the audit trail. One query each."""

import uuid

from psycopg import AsyncConnection

from shared.desk import MAY_DECIDE
from shared.domain import Role, Status
from shared.transitions import APPEALABLE
from shared.errors import NotFound
from services.api.auth import Principal

# A claim whose lease ran out is nobody's: it is shown as no claim and may be taken.
_CLAIM = """CASE WHEN c.claim_expires_at > now()
                 THEN json_build_object('by', c.claimed_by, 'expires_at', c.claim_expires_at) END AS claim"""

CASE_DETAILS = f"""
    SELECT c.id AS case_id, c.tenant, c.external_id, c.status, c.review_round, c.content, c.metadata,
           c.analysis, c.review, c.error, c.actions_refused, c.priority, c.due_at, c.created_at, c.updated_at,
           c.appealable_until, c.final_at, {APPEALABLE} AS appealable,
           {_CLAIM}, {MAY_DECIDE} AS may_decide_by_role,
           (SELECT coalesce(json_agg(d ORDER BY d.created_at), '[]') FROM (
               SELECT round, attempt, decision, note, decided_by, created_at FROM decisions WHERE case_id = c.id) d
           ) AS decisions,
           (SELECT coalesce(json_agg(a ORDER BY a.seq), '[]') FROM (
               SELECT id, seq, round, kind, target_id, status, reverses_id, attempts, last_error, created_at,
                      confirmed_at FROM actions WHERE case_id = c.id) a
           ) AS actions,
           (SELECT coalesce(json_agg(p ORDER BY p.created_at), '[]') FROM (
               SELECT round, reason, filed_by, source, basis, reference, created_at FROM appeals WHERE case_id = c.id) p
           ) AS appeals
    FROM cases c WHERE c.id = %(case_id)s"""


async def case_details(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal, max_appeals: int) -> dict:
    case = await (await conn.execute(CASE_DETAILS, {"case_id": case_id, "by": by.name, "role": str(by.role)})).fetchone()
    if case is None or not may_see(by, case["tenant"]):
        raise NotFound(f"no case {case_id}")
    reviewing = case["status"] == Status.AWAITING_REVIEW
    if not reviewing:
        case["review"] = None
    if by.role in READS_REDACTED:
        _redact(case)
    free_for_me = case["claim"] is None or case["claim"]["by"] == by.name
    case["may_decide"] = case["may_claim"] = reviewing and case.pop("may_decide_by_role") and free_for_me
    appealable = case.pop("appealable")  # its window open, not final
    case["may_appeal"] = (by.role == Role.SUPERVISOR and case["status"] == Status.CLOSED and appealable
                          and len(case["appeals"]) < max_appeals)
    case["may_retry"] = by.role == Role.ADMIN and case["status"] == Status.FAILED
    return case


# Reviewers decide on the text with secrets and personal data masked; the raw text is for admins and
# for the upstream that posted it (it is theirs).
READS_REDACTED = frozenset({Role.MODERATOR, Role.SUPERVISOR})
WITHHELD = "[withheld until the analysis has masked secrets and personal data]"


def _redact(case: dict) -> None:
    analysis = case["analysis"]
    if analysis is None:
        shown = WITHHELD
    else:
        shown = analysis.get("redacted_text") or case["content"]["text"]  # None: nothing to mask
        analysis.pop("redacted_text", None)
    for content in (case["content"], (case["review"] or {}).get("content")):
        if content is not None:
            content["text"] = shown
            content["redacted"] = True


def may_see(by: Principal, tenant: str) -> bool:
    """An upstream key sees its own tenant's cases only; staff see every case."""
    return by.role != Role.UPSTREAM or by.tenant == tenant


def parse_cursor(cursor: str) -> tuple[int | None, int]:
    """`next` of a previous page: "SEQ", or "PRIORITY-SEQ" in the review queue's order."""
    priority, _, seq = cursor.rpartition("-")
    return (int(priority) if priority else None), int(seq)


async def list_cases(conn: AsyncConnection, *, status: Status | None, actions_refused: bool | None,
                     tenant: str | None, external_id: str | None, limit: int,
                     cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of cases: the review queue most urgent first, then oldest; any other list oldest first."""
    by_priority = status == Status.AWAITING_REVIEW
    where, params = [], {"limit": limit + 1}
    if cursor is not None:
        priority, params["seq"] = parse_cursor(cursor)
        if by_priority and priority is not None:
            params["priority"] = priority
            where.append("(c.priority < %(priority)s OR (c.priority = %(priority)s AND c.seq > %(seq)s))")
        else:
            where.append("c.seq > %(seq)s")
    if status is not None:
        where.append("c.status = %(status)s")
        params["status"] = str(status)
    if actions_refused:
        where.append("c.actions_refused")
    for column, value in (("tenant", tenant), ("external_id", external_id)):
        if value is not None:
            where.append(f"c.{column} = %({column})s")
            params[column] = value
    rows = await (await conn.execute(
        "SELECT c.id AS case_id, c.seq, c.tenant, c.external_id, c.status, c.review_round, c.actions_refused, c.priority,"
        f" c.due_at, {_CLAIM}, c.analysis->>'category' AS category, c.analysis->>'severity' AS severity,"
        " c.created_at, c.updated_at FROM cases c"
        f" {'WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY {'c.priority DESC, c.seq' if by_priority else 'c.seq'} LIMIT %(limit)s", params)).fetchall()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], f"{last['priority']}-{last['seq']}" if by_priority else str(last["seq"])


async def events(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal) -> list[dict]:
    await _visible_or_raise(conn, case_id=case_id, by=by)
    return await (await conn.execute(
        "SELECT at, actor, event, from_status, to_status, data FROM audit_events WHERE case_id = %s ORDER BY id",
        (case_id,))).fetchall()


# The case's events as its subscribers receive them (`services.dispatcher.payload.event`).
_FEED = """
    SELECT e.id, e.case_seq AS seq, e.type, e.case_id, c.external_id, e.status, e.occurred_at, e.data
    FROM case_events e JOIN cases c ON c.id = e.case_id
    WHERE e.case_id = %(case_id)s AND e.case_seq >= %(from_seq)s ORDER BY e.case_seq LIMIT %(limit)s"""


async def feed(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal, from_seq: int,
               limit: int) -> tuple[list[dict], int | None]:
    """A page of the case's events from `from_seq` on, and the number to ask from next (None: no more)."""
    await _visible_or_raise(conn, case_id=case_id, by=by)
    rows = await (await conn.execute(_FEED, {"case_id": case_id, "from_seq": from_seq, "limit": limit + 1})).fetchall()
    return rows[:limit], (rows[limit]["seq"] if len(rows) > limit else None)


async def _visible_or_raise(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal) -> None:
    tenant = await (await conn.execute("SELECT tenant FROM cases WHERE id = %s", (case_id,))).fetchone()
    if tenant is None or not may_see(by, tenant["tenant"]):
        raise NotFound(f"no case {case_id}")
