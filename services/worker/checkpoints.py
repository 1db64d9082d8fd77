"""Compiled graphs over one process-wide connection pool.

A PostgresSaver serialises all its calls behind one lock, even over a pool, so each worker
thread gets a saver (and a graph compiled with it) of its own; the pool is shared.
"""

import threading

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool


def open_checkpoint_pool(conninfo: str, *, max_size: int) -> ConnectionPool:
    # The saver needs autocommit and dict rows; prepared statements break behind poolers.
    return ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
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
