"""Who is calling: the API key in `X-API-Key`, looked up by its digest and remembered briefly.

The cache keeps every answer, unknown keys included, for `ttl` seconds: a key revoked or expired
in the database stops working within that time, and a flood of junk keys costs one query per
distinct key per `ttl` (those floods are also throttled per address, see `ratelimit`).
"""

import time
from collections import OrderedDict
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from shared.domain import Role
from shared.keys import LOOKUP_SQL, digest


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    tenant: str  # whose cases an upstream key posts and reads (its own name unless set)


class KeyCache:
    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    async def principal(self, pool: AsyncConnectionPool, key: str) -> Principal | None:
        hashed = digest(key)
        now = time.monotonic()
        cached = self._entries.get(hashed)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with pool.connection() as conn:
            row = await (await conn.execute(LOOKUP_SQL, {"digest": hashed})).fetchone()
        found = row and Principal(name=row["name"], role=Role(row["role"]), tenant=row["tenant"] or row["name"])
        self._entries[hashed] = (now + self._ttl, found or None)
        self._entries.move_to_end(hashed)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)  # the least recently refreshed
        return found or None
