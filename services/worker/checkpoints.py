"""The worker's one connection pool, and compiled graphs over it.

A PostgresSaver serialises all its calls behind one lock, even over a pool, so each worker
thread gets a saver (and a graph compiled with it) of its own; the pool is shared by the savers,
the runner's turns and the action ledger.

A turn runs its graph over the connection it already holds (see `GraphPerThread.on`): the
checkpoint LangGraph writes when the run pauses joins the turn's transaction instead of
committing on its own, so one commit makes a step durable: checkpoint, read model and inbox.
"""

import threading
from typing import Any

import orjson
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from psycopg import Connection
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import ConnectionPool


def _dumps(value: Any) -> bytes:
    # json.dumps turns int keys into strings; orjson refuses them unless told to do the same.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _fast_json(conn: Connection) -> None:
    """orjson for this connection's JSON: a checkpoint is written as JSONB on every pause, and the
    standard library's encoder was the largest single cost a worker's profile showed."""
    set_json_dumps(_dumps, context=conn)
    set_json_loads(orjson.loads, context=conn)


def open_pool(conninfo: str, *, threads: int, statement_timeout_ms: int) -> ConnectionPool:
    """Two connections per worker thread at most: its turn's (holding the case lock) and one for
    the checkpointer or the ledger. Autocommit, as the saver needs: the turns and the ledger open
    their transactions explicitly. Each statement is prepared on first use (LangGraph's advice)."""
    return ConnectionPool(
        conninfo,
        min_size=1,
        max_size=2 * threads + 1,
        kwargs={"autocommit": True, "prepare_threshold": 0,
                "options": f"-c statement_timeout={int(statement_timeout_ms)}"},
        configure=_fast_json,
        open=True,
    )


class GraphPerThread:
    """Each thread compiles the graph once. `get` runs it over the pool, one autocommit statement
    at a time (what LangGraph does by default); `on` runs it over one connection, inside that
    connection's transaction, so a turn's checkpoint commits with its read-model change."""

    def __init__(self, *, graph: StateGraph, pool: ConnectionPool) -> None:
        self._graph = graph
        self._pool = pool
        self._local = threading.local()
        self._serde = PostgresSaver(pool).serde  # stateless: one for every saver of the process

    def get(self) -> CompiledStateGraph:
        compiled = getattr(self._local, "pooled", None)
        if compiled is None:
            compiled = self._local.pooled = self._graph.compile(checkpointer=PostgresSaver(self._pool))
        return compiled

    def on(self, conn: Connection) -> CompiledStateGraph:
        compiled = getattr(self._local, "bound", None)
        if compiled is None:
            compiled = self._local.bound = self._graph.compile(checkpointer=PostgresSaver(self._pool))
        # This thread's own compiled graph: pointing it at this turn's connection affects no other thread.
        compiled.checkpointer = PostgresSaver(conn, serde=self._serde)
        return compiled
