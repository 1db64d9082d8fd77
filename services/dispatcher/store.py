"""The dispatcher's statements over `webhook_deliveries`: claim what is due, record how it went.

A delivery is due when it is pending, its `next_attempt_at` has come, nobody holds a lease on it,
and it is the earliest pending delivery of its subscriber and case: so each case's events
reach a subscriber one after the other, in `event_seq` order (commit order per case, since every
writer of a case locks it). A claim leases the rows and commits before any HTTP call, so several
dispatchers can share the work (SKIP LOCKED) and a crashed one's rows come back when its lease
lapses. A result is recorded only under the lease it was claimed with (`leased_until` is the
fencing token): a dispatcher that outlived its lease cannot overwrite the next holder's result.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from shared import connections
from shared.secretbox import SecretBox, SecretsUnavailable

log = logging.getLogger(__name__)

CLAIM = """
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.webhook_id = %(webhook_id)s AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.leased_until IS NULL OR d.leased_until < now())
          AND d.event_seq = (SELECT min(e.event_seq) FROM webhook_deliveries e
                             WHERE e.webhook_id = d.webhook_id AND e.case_id = d.case_id AND e.status = 'pending')
        ORDER BY d.next_attempt_at
        LIMIT %(limit)s
        FOR UPDATE OF d SKIP LOCKED
    ), leased AS (
        UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => %(lease_seconds)s),
                                        attempts = d.attempts + 1
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.event_id, d.case_id, d.event_seq, d.attempts, d.leased_until
    )
    SELECT l.id, l.case_id, l.event_seq, l.attempts, l.leased_until, e.id AS event_id, e.case_seq, e.type, e.status,
           e.occurred_at, e.data, c.external_id
    FROM leased l JOIN case_events e ON e.id = l.event_id JOIN cases c ON c.id = l.case_id
    ORDER BY l.event_seq"""

DELIVERED = """
    UPDATE webhook_deliveries d SET status = 'delivered', delivered_at = now(), leased_until = NULL,
                                    last_status_code = t.status_code, last_error = NULL,
                                    answer = %(answers)s::jsonb -> (t.n - 1)::int
    FROM unnest(%(ids)s::bigint[], %(leases)s::timestamptz[], %(status_codes)s::int[]) WITH ORDINALITY
         AS t(id, lease, status_code, n)
    WHERE d.id = t.id AND d.leased_until = t.lease AND d.status = 'pending'"""

# Another try after the row's delay, or dead once it has had `max_attempts` (counted at the claim,
# so a delivery that crashes its dispatcher is bounded too). The case's later events cannot go
# before it: they are made due no sooner, so a claim walking the due rows in order does not step
# over them again and again while a subscriber is down.
FAILED = """
    WITH failed AS (
        UPDATE webhook_deliveries d SET
            status = CASE WHEN d.attempts >= %(max_attempts)s THEN 'dead' ELSE 'pending' END,
            dead_at = CASE WHEN d.attempts >= %(max_attempts)s THEN now() END,
            next_attempt_at = now() + make_interval(secs => t.delay),
            leased_until = NULL, last_error = %(error)s, last_status_code = %(status_code)s
        FROM unnest(%(ids)s::bigint[], %(leases)s::timestamptz[], %(delays)s::float8[]) AS t(id, lease, delay)
        WHERE d.id = t.id AND d.leased_until = t.lease AND d.status = 'pending'
        RETURNING d.id, d.status, d.webhook_id, d.case_id, d.event_seq, d.next_attempt_at
    ), held AS (
        UPDATE webhook_deliveries later SET next_attempt_at = f.next_attempt_at
        FROM failed f
        WHERE f.status = 'pending' AND later.webhook_id = f.webhook_id AND later.case_id = f.case_id
          AND later.status = 'pending' AND later.event_seq > f.event_seq AND later.next_attempt_at < f.next_attempt_at
    )
    SELECT id, status FROM failed"""

# A tenant's statements endpoint (a connection's webhook) signs or authorises with the token of
# the connection's version in force, sealed there; every other subscriber has its secret here.
WEBHOOKS = f"""
    SELECT w.id, w.url, w.secret, w.kind, w.tenant, t.statements_token FROM webhooks w
    LEFT JOIN LATERAL (SELECT p.statements_token FROM platform_connections p
                       WHERE w.created_by = '{connections.HOOK_CREATOR}' || w.tenant AND p.tenant = w.tenant
                       ORDER BY p.version DESC LIMIT 1) t ON true
    ORDER BY w.created_at"""

# Per subscriber: pending rows, the age of the oldest, dead rows (ix_deliveries_due / _dead).
BACKLOG = """
    SELECT webhook_id, count(*) FILTER (WHERE status = 'pending'),
           coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8,
           count(*) FILTER (WHERE status = 'dead')
    FROM webhook_deliveries WHERE status IN ('pending', 'dead') GROUP BY webhook_id"""


@dataclass(frozen=True)
class Hook:
    id: UUID
    url: str
    secret: str
    kind: str  # 'events': one event per POST; 'statements', 'dsa-transparency-db': batches of statements


@dataclass(frozen=True)
class Claimed:
    id: int
    case_id: UUID
    event_seq: int
    attempts: int  # this one included
    lease: datetime
    event_id: UUID
    case_seq: int  # 1, 2, 3… per case: what a subscriber orders and deduplicates by
    type: str
    status: str
    occurred_at: datetime
    data: dict[str, Any]
    external_id: str


async def webhooks(conn: AsyncConnection, *, box: SecretBox) -> list[Hook]:
    """Every subscriber; one whose sealed token cannot be opened (SECRET_KEYS lost it) is left out,
    its deliveries waiting, and said loudly."""
    hooks = []
    for hook_id, url, secret, kind, tenant, sealed in await (await conn.execute(WEBHOOKS)).fetchall():
        if sealed is not None:
            try:
                secret = box.open(sealed, context=tenant)
            except SecretsUnavailable as error:
                log.error("webhook %s (statements of %s): its token cannot be opened (%s); nothing is sent",
                          hook_id, tenant, error)
                continue
        hooks.append(Hook(id=hook_id, url=url, secret=secret, kind=kind))
    return hooks


async def claim(conn: AsyncConnection, *, webhook_id: UUID, limit: int, lease_seconds: float) -> list[Claimed]:
    cursor = await conn.execute(CLAIM, {"webhook_id": webhook_id, "limit": limit, "lease_seconds": lease_seconds})
    return [Claimed(*row) for row in await cursor.fetchall()]


async def delivered(conn: AsyncConnection, *, claimed: list[Claimed], status_codes: list[int],
                    answers: list[dict | None]) -> None:
    await conn.execute(DELIVERED, {"ids": [c.id for c in claimed], "leases": [c.lease for c in claimed],
                                   "status_codes": status_codes, "answers": Jsonb(answers)})


async def failed(conn: AsyncConnection, *, claimed: list[Claimed], delays: list[float], error: str,
                 status_code: int | None, max_attempts: int) -> set[int]:
    """Records a failed attempt; returns the ids that are now dead."""
    cursor = await conn.execute(FAILED, {"ids": [c.id for c in claimed], "leases": [c.lease for c in claimed],
                                         "delays": delays, "error": error[:2000], "status_code": status_code,
                                         "max_attempts": max_attempts})
    return {row[0] for row in await cursor.fetchall() if row[1] == "dead"}


async def backlog(conn: AsyncConnection) -> dict[UUID, tuple[int, float, int]]:
    """Per subscriber: (pending, oldest pending age in seconds, dead)."""
    rows = await (await conn.execute(BACKLOG)).fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}
