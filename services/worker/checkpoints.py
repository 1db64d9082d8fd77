"""The worker's one connection pool, and compiled graphs over it.

A PostgresSaver serialises all its calls behind one lock, even over a pool, so each worker
thread gets a saver (and a graph compiled with it) of its own; the pool is shared by the savers,
the runner's turns and the action ledger.
"""

import threading

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from psycopg_pool import ConnectionPool


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
        open=True,
    )


class GraphPerThread:
    def __init__(self, *, graph: StateGraph, pool: ConnectionPool) -> None:
        self._graph = graph
        self._pool = pool
        self._local = threading.local()

    def get(self) -> CompiledStateGraph:
        compiled = getattr(self._local, "compiled", None)
        if compiled is None:
            compiled = self._local.compiled = self._graph.compile(checkpointer=PostgresSaver(self._pool))
        return compiled
