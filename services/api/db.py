"""The api's database: one async psycopg pool per process, opened with the app and closed with it.

Connections are in autocommit: a command that is one statement (`shared.transitions`) commits in
its one round trip; a command of several statements opens `conn.transaction()` itself.
"""

from typing import Annotated

from fastapi import Depends, Request
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from shared.db import check_when_idle
from shared.settings import Settings


def make_pool(settings: Settings) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        settings.libpq_url,
        min_size=settings.db_pool_size,
        max_size=settings.db_pool_size,
        timeout=2.0,  # waiting longer than this for a connection is an outage: answer 503
        open=False,
        check=check_when_idle,
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
