"""Group commit for new cases: the cases posted while a commit is under way share the next one.

Every 202 still means "committed": a request waits for the commit that holds its case. But one
commit (one WAL flush) now serves every case that arrived meanwhile, so the intake is no longer
capped at Postgres' rate of flushed commits, and a lone case is written at once, without waiting.
"""

import asyncio
import uuid

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared import transitions
from shared.transitions import NewCase, Wakeups

MAX_BATCH = 200
IN_FLIGHT = 2  # commits under way at once per process: one filling while the other flushes


class Intake:
    def __init__(self, *, pool: AsyncConnectionPool, wakeups: Wakeups) -> None:
        self._pool = pool
        self._wakeups = wakeups
        self._waiting: list[tuple[NewCase, asyncio.Future]] = []
        self._in_flight = 0

    async def create(self, case: NewCase) -> bool:
        """Write the case with the next commit; False when its tenant already has its external id."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((case, done))
        if self._in_flight < IN_FLIGHT:
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._commit_while_waiting())
        return await done

    async def _commit_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._commit(batch)
        finally:
            self._in_flight -= 1

    async def _commit(self, batch: list[tuple[NewCase, asyncio.Future]]) -> None:
        try:
            created = await self._write([case for case, _ in batch])
        except psycopg.DataError as error:
            if len(batch) > 1:  # one case the database refuses must not fail the others: each alone
                for one in batch:
                    await self._commit([one])
                return
            _fail(batch, error)
        except Exception as error:  # the database is away: every waiting request learns it
            _fail(batch, error)
        except asyncio.CancelledError as cancelled:  # shutting down
            _fail(batch, cancelled)
            raise
        else:
            for case, done in batch:
                if not done.done():
                    done.set_result(case.case_id in created)

    async def _write(self, cases: list[NewCase]) -> set[uuid.UUID]:
        statement = transitions.create_statement(cases, wake_relays=self._wakeups.due())
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(statement.sql, statement.params)).fetchall()
        return {row["id"] for row in rows}


def _fail(batch: list[tuple[NewCase, asyncio.Future]], error: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(error)
