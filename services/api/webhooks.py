"""Subscribers to case events: register, list, delete, and the admin's view of their deliveries
(dead letters included) with replay. Keyword-only functions over an async connection; the
dispatcher (`services/dispatcher`) does the delivering."""

import logging
import uuid

from psycopg import AsyncConnection

from shared.errors import Conflict, NotFound
from services.api.auth import Principal
from services.api.webhook_schemas import WebhookCreate

log = logging.getLogger(__name__)

_COLUMNS = """w.id, w.url, w.events, w.tenant, w.kind, w.created_by, w.created_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'dead') AS dead"""
CREATE = """INSERT INTO webhooks (id, url, events, secret, tenant, kind, created_by)
            VALUES (%(id)s, %(url)s, %(events)s, %(secret)s, %(tenant)s, 'events', %(by)s)
            RETURNING id, url, events, tenant, kind, created_by, created_at, 0 AS pending, 0 AS dead"""
LIST = f"SELECT {_COLUMNS} FROM webhooks w ORDER BY w.created_at, w.id"
GET = f"SELECT {_COLUMNS} FROM webhooks w WHERE w.id = %(id)s"
DELETE = "DELETE FROM webhooks WHERE id = %(id)s RETURNING url"
EXISTS = "SELECT 1 FROM webhooks WHERE id = %(id)s"
DELIVERIES = """
    SELECT d.id, d.event_id, e.type, d.case_id, d.status, d.attempts, d.next_attempt_at, d.last_error,
           d.last_status_code, d.created_at, d.delivered_at, d.dead_at, d.answer
    FROM webhook_deliveries d JOIN case_events e ON e.id = d.event_id
    WHERE d.webhook_id = %(id)s AND (%(status)s::text IS NULL OR d.status = %(status)s)
      AND (%(before)s::bigint IS NULL OR d.id < %(before)s)
    ORDER BY d.id DESC LIMIT %(limit)s"""
# Back on its way as if new: attempts from zero, due now. An earlier event of the case that died is
# pending again before the later ones still waiting, so those wait for it: order is restored.
REPLAY_ALL = """UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),
                                               leased_until = NULL, dead_at = NULL
                WHERE webhook_id = %(id)s AND status = 'dead'"""
# One delivery brings back its case's earlier dead ones with it, so they arrive first, in order.
REPLAY_ONE = """UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = now(),
                                               leased_until = NULL, dead_at = NULL
                FROM webhook_deliveries one
                WHERE one.webhook_id = %(id)s AND one.id = %(delivery_id)s AND one.status = 'dead'
                  AND d.webhook_id = one.webhook_id AND d.case_id = one.case_id AND d.status = 'dead'
                  AND d.event_seq <= one.event_seq
                RETURNING d.id, d.case_id"""
DELIVERY_STATUS = "SELECT status FROM webhook_deliveries WHERE webhook_id = %(id)s AND id = %(delivery_id)s"


async def create(conn: AsyncConnection, *, data: WebhookCreate, by: Principal) -> dict:
    params = {"id": uuid.uuid4(), "url": data.url, "events": data.events, "secret": data.secret,
              "tenant": data.tenant, "by": by.name}
    hook = await (await conn.execute(CREATE, params)).fetchone()
    log.info("webhook %s created by %s: %s for %s (tenant %s)", hook["id"], by.name, data.url, ",".join(data.events),
             data.tenant or "all")
    return hook


async def list_all(conn: AsyncConnection) -> list[dict]:
    return await (await conn.execute(LIST)).fetchall()


async def get_or_raise(conn: AsyncConnection, *, webhook_id: uuid.UUID) -> dict:
    hook = await (await conn.execute(GET, {"id": webhook_id})).fetchone()
    if hook is None:
        raise NotFound(f"no webhook {webhook_id}")
    return hook


async def delete(conn: AsyncConnection, *, webhook_id: uuid.UUID, by: Principal) -> None:
    deleted = await (await conn.execute(DELETE, {"id": webhook_id})).fetchone()
    if deleted is None:
        raise NotFound(f"no webhook {webhook_id}")
    log.info("webhook %s (%s) deleted by %s, with its deliveries", webhook_id, deleted["url"], by.name)


async def deliveries(conn: AsyncConnection, *, webhook_id: uuid.UUID, status: str | None, limit: int,
                     cursor: int | None) -> tuple[list[dict], str | None]:
    """Newest first; `cursor` is the `next` of the previous page."""
    params = {"id": webhook_id, "status": status, "before": cursor, "limit": limit + 1}
    rows = await (await conn.execute(DELIVERIES, params)).fetchall()
    if not rows:  # an empty page, or no such webhook: only then the second round trip
        await _exists_or_raise(conn, webhook_id=webhook_id)
    return rows[:limit], (str(rows[limit - 1]["id"]) if len(rows) > limit else None)


async def replay(conn: AsyncConnection, *, webhook_id: uuid.UUID, delivery_id: int, by: Principal) -> int:
    """How many deliveries went back on their way: this one and its case's earlier dead ones."""
    replayed = await (await conn.execute(REPLAY_ONE, {"id": webhook_id, "delivery_id": delivery_id})).fetchall()
    if not replayed:
        await _exists_or_raise(conn, webhook_id=webhook_id)
        found = await (await conn.execute(DELIVERY_STATUS, {"id": webhook_id, "delivery_id": delivery_id})).fetchone()
        if found is None:
            raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id}")
        raise Conflict(f"only a dead delivery can be replayed; this one is {found['status']}")
    log.info("delivery %s of webhook %s replayed by %s (%d with its case's earlier dead ones)", delivery_id,
             webhook_id, by.name, len(replayed), extra={"case_id": replayed[0]["case_id"]})
    return len(replayed)


async def replay_dead(conn: AsyncConnection, *, webhook_id: uuid.UUID, by: Principal) -> int:
    count = (await conn.execute(REPLAY_ALL, {"id": webhook_id})).rowcount
    if count == 0:  # nothing dead, or no such webhook
        await _exists_or_raise(conn, webhook_id=webhook_id)
    log.info("%d dead deliveries of webhook %s replayed by %s", count, webhook_id, by.name)
    return count


async def _exists_or_raise(conn: AsyncConnection, *, webhook_id: uuid.UUID) -> None:
    if await (await conn.execute(EXISTS, {"id": webhook_id})).fetchone() is None:
        raise NotFound(f"no webhook {webhook_id}")
