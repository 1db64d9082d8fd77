"""Group commit: the commands that arrive while a commit is under way share the next one.

Every 202 still means "committed": a request waits for the commit that holds its command. But one
commit (one WAL flush, one round trip) now serves every command that arrived meanwhile, so the
api is no longer capped at Postgres' rate of flushed commits, and a lone command is written at
once, without waiting. New cases share one statement (`Intake`), and so do decisions
(`Decisions`). A batch the database refuses as a whole is written again one command at a time, so
a command it refuses fails alone.
"""

import asyncio
from contextlib import nullcontext
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from shared import transitions
from shared.transitions import Moved, NewCase, Wakeups

MAX_BATCH = 200
IN_FLIGHT = 2  # commits under way at once per process: one filling while the other flushes

Command = TypeVar("Command")
Result = TypeVar("Result")


class GroupCommit(Generic[Command, Result]):
    """Subclasses write a batch (`_write`) and name the errors that refuse a command rather than
    the database (`ALONE_ON`): a batch failing with one is retried one command at a time."""

    ALONE_ON: tuple[type[Exception], ...] = (psycopg.DataError,)

    def __init__(self, *, pool: AsyncConnectionPool, wakeups: Wakeups) -> None:
        self._pool = pool
        self._wakeups = wakeups
        self._waiting: list[tuple[Command, asyncio.Future]] = []
        self._in_flight = 0

    async def _submit(self, command: Command) -> Result:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((command, done))
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

    async def _commit(self, batch: list[tuple[Command, asyncio.Future]]) -> None:
        try:
            results = await self._write([command for command, _ in batch])
        except self.ALONE_ON as error:
            if len(batch) > 1:  # one command the database refuses must not fail the others: each alone
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
            for (_, done), result in zip(batch, results):
                if not done.done():
                    done.set_result(result)

    async def _write(self, commands: list[Command]) -> list[Result]:
        raise NotImplementedError


class Intake(GroupCommit[NewCase, bool]):
    """New cases, in one statement per commit."""

    async def create(self, case: NewCase) -> bool:
        """Write the case with the next commit; False when its tenant already has its external id."""
        return await self._submit(case)

    async def _write(self, cases: list[NewCase]) -> list[bool]:
        statement = transitions.create_statement(cases, wake_relays=self._wakeups.due())
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(statement.sql, statement.params)).fetchall()
        created = {row["id"] for row in rows}
        return [case.case_id in created for case in cases]


class Decisions(GroupCommit[dict[str, Any], Moved | None]):
    """Moves of the one writer (`transitions.move_statement`'s arguments: the api's decisions), in
    one statement per commit (`transitions.moves_statement`), whose row locks are taken in case id
    order, so two commits never wait on each other in a circle. A refused move (no row) refuses
    only itself. Two decisions of one case in a commit meet as in two commits: the second, in a
    statement after the first's in one transaction, finds the case moved."""

    # A unique key (a state check slipped), a value refused, a deadlock with another writer
    ALONE_ON = (psycopg.DataError, psycopg.IntegrityError, errors.DeadlockDetected)

    async def move(self, **what: Any) -> Moved | None:
        """The move, committed (None when the case was not where it expects)."""
        return await self._submit(what)

    async def _write(self, moves: list[dict[str, Any]]) -> list[Moved | None]:
        # One wake-up for the commit, carried by each statement (Postgres folds repeats in a
        # transaction); a commit that moved nothing leaves it for the next.
        wake = self._wakeups.due()
        rounds = _each_case_once([str(what["case_id"]) for what in moves])
        results: list[Moved | None] = [None] * len(moves)
        async with self._pool.connection() as conn, (conn.transaction() if len(rounds) > 1 else nullcontext()):
            for indexes in rounds:
                statement = transitions.moves_statement([{**moves[n], "wake_relays": wake} for n in indexes])
                rows = await (await conn.execute(statement.sql, statement.params)).fetchall()
                moved = {one.case_id: one for one in map(transitions.moved, rows)}
                for n in indexes:
                    results[n] = moved.get(moves[n]["case_id"])
        if wake and not any(results):
            self._wakeups.unused()
        return results


def _each_case_once(case_ids: list[str]) -> list[list[int]]:
    """The indexes of `case_ids` in rounds that hold each case once: a case's k-th in round k."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for n, case_id in enumerate(case_ids):
        k = seen[case_id] = seen.get(case_id, -1) + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(n)
    return rounds


def _fail(batch: list[tuple[Any, asyncio.Future]], error: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(error)
