"""The api's database: one async psycopg pool per process, opened with the app and closed with it.

Connections are in autocommit: a command that is one statement (`shared.transitions`) commits in
its one round trip; a command of several statements opens `conn.transaction()` itself.
"""

import time
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings


IDLE_BEFORE_CHECK = 1.0  # seconds


async def _check_when_idle(conn: AsyncConnection) -> None:
    """An empty query before handing out a connection that sat idle: after a database restart the
    pool holds dead connections, each of which would otherwise fail one request. A connection in
    steady use is handed out again within milliseconds and spared the round trip."""
    now = time.monotonic()
    last_used, conn.vigil_last_used = getattr(conn, "vigil_last_used", 0.0), now
    if now - last_used > IDLE_BEFORE_CHECK:
        await AsyncConnectionPool.check_connection(conn)


def make_pool(settings: Settings) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        settings.libpq_url,
        min_size=settings.db_pool_size,
        max_size=settings.db_pool_size,
        timeout=2.0,  # waiting longer than this for a connection is an outage: answer 503
        open=False,
        check=_check_when_idle,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": settings.db_connect_timeout,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )


async def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


# Routes take a connection from the pool for just their query (`async with pool.connection()`):
# cheaper than a generator dependency, and a cached key needs no connection at all.
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
