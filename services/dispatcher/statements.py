"""The configured statements endpoint (STATEMENTS_URL, STATEMENTS_SECRET, STATEMENTS_KIND) as a
subscriber of kind 'statements' (signed batches) or 'dsa-transparency-db' (the database's API, the
secret its token): it hears `statement.issued` of every tenant and gets the statements in batches.

Each dispatcher writes it at start, so the configuration is the truth: a changed URL or secret
replaces the old one (pending deliveries stay with it). Unsetting STATEMENTS_URL leaves the
subscriber in place; an admin deletes it with `DELETE /v1/webhooks/{id}`."""

import logging
import uuid

from psycopg import AsyncConnection

from shared import connections, events
from shared.settings import Settings

log = logging.getLogger(__name__)

CREATED_BY = "config:STATEMENTS_URL"
LOCK = "SELECT pg_advisory_xact_lock(hashtext('vigil:statements-webhook'))"  # dispatchers starting together
UPDATE = """UPDATE webhooks SET url = %(url)s, secret = %(secret)s, events = %(events)s, kind = %(kind)s
            WHERE created_by = %(by)s RETURNING id"""
INSERT = """INSERT INTO webhooks (id, url, events, secret, tenant, kind, created_by)
            VALUES (%(id)s, %(url)s, %(events)s, %(secret)s, NULL, %(kind)s, %(by)s) RETURNING id"""


async def configure(conn: AsyncConnection, settings: Settings) -> uuid.UUID | None:
    """Upserts the statements subscriber from the settings; its id, or None when none is set."""
    if not settings.statements_url:
        return None
    if settings.statements_secret is None:
        log.error("STATEMENTS_URL is set without STATEMENTS_SECRET: statements are not sent")
        return None
    params = {"url": settings.statements_url, "secret": settings.statements_secret.get_secret_value(),
              "events": [events.STATEMENT_ISSUED], "by": CREATED_BY, "id": uuid.uuid4(),
              "kind": connections.STATEMENTS_KINDS[settings.statements_kind]}
    async with conn.transaction():
        await conn.execute(LOCK)
        row = await (await conn.execute(UPDATE, params)).fetchone() or await (await conn.execute(INSERT, params)).fetchone()
    log.info("statements of reasons go to %s (webhook %s)", settings.statements_url, row[0])
    return row[0]
