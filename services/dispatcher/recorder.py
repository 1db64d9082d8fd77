"""Writing the results of deliveries. Successes are grouped: those that finish while a write is
under way share the next one (one UPDATE for many rows), which halves the dispatcher's round trips
under load without delaying a lone result. A write waits out a database that is away for as long
as the leases hold; after that the deliveries are another claim's to make again (at least once)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.dispatcher import store
from services.dispatcher.store import Claimed

log = logging.getLogger(__name__)

DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)


async def write_with_retries(pool: AsyncConnectionPool, write: Callable[[psycopg.AsyncConnection], Awaitable[None]],
                             *, deadline: float, what: str) -> bool:
    """True once written; False when the database stayed away until `deadline` (monotonic)."""
    pause = 0.25
    while True:
        try:
            async with pool.connection() as conn:
                await write(conn)
            return True
        except DATABASE_AWAY as error:
            if time.monotonic() + pause > deadline:
                log.warning("%s not recorded (%s); the delivery will be made again", what, type(error).__name__)
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


class DeliveredRecorder:
    def __init__(self, *, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._queued: list[tuple[list[tuple[Claimed, dict | None]], int, float, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None  # held: the loop keeps only a weak reference to a task

    async def record(self, claimed: list[Claimed], *, status_code: int, deadline: float,
                     answers: list[dict | None] | None = None) -> None:
        """Delivered, each with what the subscriber said of it (if it says anything per delivery)."""
        done = asyncio.get_running_loop().create_future()
        self._queued.append((list(zip(claimed, answers or [None] * len(claimed))), status_code, deadline, done))
        if self._writer is None or self._writer.done():  # it ends, done, as soon as it finds nothing queued
            self._writer = asyncio.create_task(self._write_queued())
        await done

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            rows = [(one, status_code, answer) for claimed, status_code, _, _ in batch for one, answer in claimed]

            async def write(conn: psycopg.AsyncConnection) -> None:
                await store.delivered(conn, claimed=[one for one, _, _ in rows],
                                      status_codes=[code for _, code, _ in rows], answers=[a for _, _, a in rows])

            try:
                await write_with_retries(self._pool, write, deadline=min(d for _, _, d, _ in batch),
                                         what=f"{len(rows)} deliveries")
            except Exception as error:  # a bug: every waiter hears of it
                for *_, done in batch:
                    done.set_exception(error)
                continue
            for *_, done in batch:
                done.set_result(None)
