"""Platform connections through the api: an admin sets, lists, reads the history of, and removes a
tenant's connection (shared/connections.py). Every change is a new version; secrets are sealed
before they are stored and never come back out."""

import logging
from datetime import datetime
from typing import Annotated

from psycopg import AsyncConnection, errors
from pydantic import AfterValidator, BaseModel, Field

from shared import connections
from shared.errors import Conflict, NotFound, Unavailable
from shared.secretbox import SecretBox, SecretsUnavailable
from services.api.auth import Principal
from services.api.schemas import Strict, Text
from services.api.webhook_schemas import http_url

log = logging.getLogger(__name__)


class ConnectionIn(Strict):
    base_url: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(http_url)] = Field(
        description="where this tenant's platform takes action calls: POST {base_url}/{content|users}/{id}/{action}")
    secret: Annotated[Text, Field(min_length=16, max_length=512)] | None = Field(
        default=None, description="signs every call to the platform (HMAC-SHA256, as the callbacks); "
                                  "left out: the current secret stays")
    timeout: float | None = Field(default=None, gt=0, le=120,
                                  description="seconds per call; none: PLATFORM_TIMEOUT")


class ConnectionOut(BaseModel):
    tenant: str
    version: int
    base_url: str | None
    timeout: float | None
    signed: bool = Field(description="whether calls are signed; the secret itself is never shown")
    removed: bool = Field(description="this version sent the tenant back to the default connection")
    changed: list[str] = Field(description="the fields this version changed")
    created_by: str
    created_at: datetime


async def current(conn: AsyncConnection) -> list[dict]:
    return [connections.shown(row) for row in await (await conn.execute(connections.ALL_CURRENT)).fetchall()]


async def history(conn: AsyncConnection, *, tenant: str) -> list[dict]:
    rows = await (await conn.execute(connections.HISTORY, {"tenant": tenant})).fetchall()
    if not rows:
        raise NotFound(f"tenant {tenant!r} has no connection of its own: it uses the default (PLATFORM_URL)")
    return [connections.shown(row) for row in rows]


async def change(conn: AsyncConnection, *, tenant: str, change: connections.Change, box: SecretBox,
                 by: Principal) -> dict:
    """The next version, written unless another change got in first (then 409: read and try again)."""
    now = await (await conn.execute(connections.CURRENT, {"tenant": tenant})).fetchone()
    if change.removed and (now is None or now["removed"]):
        raise NotFound(f"tenant {tenant!r} has no connection of its own to remove")
    try:
        params = connections.next_version(now, change, tenant=tenant, box=box, by=by.name)
    except SecretsUnavailable as error:
        raise Unavailable(str(error)) from error
    try:
        row = await (await conn.execute(connections.ADD, params)).fetchone()
    except errors.UniqueViolation:
        raise Conflict(f"the connection of {tenant!r} changed meanwhile: read it and try again") from None
    log.info("platform connection of %s: version %d by %s (changed %s)", tenant, row["version"], by.name,
             ", ".join(row["changed"]) or "nothing")
    return connections.shown(row)
