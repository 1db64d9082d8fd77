"""The api's database: one async psycopg pool per process, opened with the app and closed with it.

Connections are in autocommit: a command that is one statement (`shared.transitions`) commits in
its one round trip; a command of several statements opens `conn.transaction()` itself.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings


def make_pool(settings: Settings) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        settings.libpq_url,
        min_size=settings.db_pool_size,
        max_size=settings.db_pool_size,
        timeout=2.0,  # waiting longer than this for a connection is an outage: answer 503
        open=False,
        # An empty query before handing a connection out: after a database restart the pool holds
        # dead connections, and without this each of them would fail one request.
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": settings.db_connect_timeout,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.pool.connection() as conn:
        yield conn


ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
