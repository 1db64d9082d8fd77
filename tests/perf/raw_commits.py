"""The database's own ceiling for the intake: the rows one create writes (case, audit event,
outbox row), one transaction each, over 16 connections, straight through psycopg in pipeline
mode (one round trip per transaction), from client processes of their own."""

import asyncio
import json
import multiprocessing
import time
import uuid

import psycopg

from tests.perf.schema import insert_sql

CONTENT = json.dumps({"text": "You are a worthless idiot and everybody hates you", "author_id": "raw"})


def statements(url: str) -> tuple[str, str, str]:
    with psycopg.connect(url) as conn:
        return (insert_sql(conn, "cases", ["id", "external_id", "content", "metadata", "status", "review_round",
                                           "review_attempt", "version", "created_by"]),
                insert_sql(conn, "audit_events", ["case_id", "actor", "event", "to_status", "data"]),
                insert_sql(conn, "outbox", ["id", "case_id", "kind", "publish_attempts"]))


async def _connection_loop(url: str, sqls: tuple[str, str, str], deadline: float, notify: bool, durable: bool) -> int:
    case_sql, audit_sql, outbox_sql = sqls
    commits = 0
    # durable=False: synchronous_commit off, so the figure shows what the WAL flush (fsync) costs
    options = {} if durable else {"options": "-c synchronous_commit=off"}
    async with await psycopg.AsyncConnection.connect(url, **options) as conn:
        while time.monotonic() < deadline:
            case_id = uuid.uuid4()
            async with conn.pipeline(), conn.transaction():
                await conn.execute(case_sql, (case_id, f"raw-{case_id}", CONTENT, "{}", "received", 1, 0, 1, "raw"))
                await conn.execute(audit_sql, (case_id, "raw", "case_received", "received",
                                               json.dumps({"external_id": f"raw-{case_id}"})))
                await conn.execute(outbox_sql, (uuid.uuid4(), case_id, "start", 0))
                if notify:
                    await conn.execute("NOTIFY vigil_outbox")
            commits += 1
    return commits


def _client(url: str, sqls: tuple[str, str, str], connections: int, seconds: float, notify: bool,
            durable: bool) -> int:
    async def main() -> int:
        deadline = time.monotonic() + seconds
        loops = (_connection_loop(url, sqls, deadline, notify, durable) for _ in range(connections))
        return sum(await asyncio.gather(*loops))

    return asyncio.run(main())


def commit_rate(url: str, *, connections: int = 16, seconds: float = 10, notify: bool = False,
                durable: bool = True, processes: int = 2) -> float:
    """Transactions committed per second."""
    sqls = statements(url)
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        per_process = connections // processes
        counts = pool.starmap(_client, [(url, sqls, per_process + (n < connections % processes), seconds, notify,
                                         durable) for n in range(processes)])
    # each loop runs `seconds` from its own start, so pool start-up is not counted
    return sum(counts) / seconds
