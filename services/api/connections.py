"""Platform connections through the api: an admin sets, lists, reads the history of, and removes a
tenant's connection (shared/connections.py). Every change is a new version; secrets are sealed
before they are stored and never come back out."""

import logging
from datetime import datetime
from typing import Annotated, Literal

from psycopg import AsyncConnection, errors
from pydantic import AfterValidator, BaseModel, Field, model_validator

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
    statements_url: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(http_url)] | None = Field(
        default=None, description="where this tenant's statements of reasons go, e.g. the DSA Transparency "
                                  "Database's https://transparency.dsa.ec.europa.eu/api/v1/statements; "
                                  "none: they go nowhere of the tenant's own")
    statements_kind: Literal[tuple(connections.STATEMENTS_KINDS)] = Field(
        default="dsa-transparency-db", description="dsa-transparency-db: the database's API (Bearer token, "
                                                   "batches of 100, each puid once); signed: an endpoint of the "
                                                   "platform's, batches signed with the token as the callbacks")
    statements_token: Annotated[Text, Field(min_length=16, max_length=512)] | None = Field(
        default=None, description="the database's API token (or the signing secret); left out: the current one stays")

    @model_validator(mode="after")
    def statements_need_a_token(self) -> "ConnectionIn":
        if self.statements_token is not None and self.statements_url is None:
            raise ValueError("statements_token without statements_url: say where the statements go")
        return self


class ConnectionOut(BaseModel):
    tenant: str
    version: int
    base_url: str | None
    timeout: float | None
    signed: bool = Field(description="whether calls are signed; the secret itself is never shown")
    statements_url: str | None
    statements_kind: str | None
    statements_token: bool = Field(description="whether a statements token is stored (never shown)")
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
    undelivered = (await (await conn.execute(connections.UNDELIVERED, {"tenant": tenant})).fetchone())["n"]
    connections.check(now, change, tenant=tenant, undelivered=undelivered)
    try:
        params = connections.next_version(now, change, tenant=tenant, box=box, by=by.name)
    except SecretsUnavailable as error:
        raise Unavailable(str(error)) from error
    try:
        async with conn.transaction():
            row = await (await conn.execute(connections.ADD, params)).fetchone()
            await conn.execute(connections.SYNC_HOOK, {"tenant": tenant})
    except errors.UniqueViolation:
        raise Conflict(f"the connection of {tenant!r} changed meanwhile: read it and try again") from None
    log.info("platform connection of %s: version %d by %s (changed %s)", tenant, row["version"], by.name,
             ", ".join(row["changed"]) or "nothing")
    return connections.shown(row)
