"""The worker's one connection pool, and compiled graphs over it.

A PostgresSaver serialises all its calls behind one lock, even over a pool, so each worker
thread gets a saver (and a graph compiled with it) of its own; the pool is shared by the savers,
the runner's turns and the action ledger.

A turn runs its graph over the connection it already holds (see `GraphPerThread.on`): the
checkpoint LangGraph writes when the run pauses joins the turn's transaction instead of
committing on its own, so one commit makes a step durable: checkpoint, read model and inbox.
Its writes even wait for the turn's closing batch (`TurnSaver`): the same transaction, two round
trips and two background-thread hand-offs fewer per step.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from langgraph.checkpoint.base import get_checkpoint_id
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from psycopg import Connection, Cursor
from psycopg.rows import dict_row
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


class _Recorder:
    """Stands in for the saver's cursor when it writes: keeps each statement for later."""

    def __init__(self, sink: list) -> None:
        self._sink = sink

    def execute(self, query: str, params: Any = None) -> None:
        self._sink.append((query, params, False))

    def executemany(self, query: str, params_seq: Any) -> None:
        self._sink.append((query, list(params_seq), True))


UNREAD = object()  # what a turn knows of its thread's latest checkpoint before reading it

# PostgresSaver.get_tuple's own query for a thread's latest checkpoint (no checkpoint id asked).
_LATEST = PostgresSaver.SELECT_SQL + "WHERE thread_id = %s AND checkpoint_ns = %s ORDER BY checkpoint_id DESC LIMIT 1"


def read_latest(conn: Connection, thread_id: str) -> Cursor:
    """Queue the read of the thread's latest checkpoint on `conn` (a turn's opening batch): its
    row, for `TurnSaver(latest=...)`, is the cursor's `fetchone()` once the batch is back."""
    cursor = conn.cursor(binary=True, row_factory=dict_row)  # as the saver reads it
    cursor.execute(_LATEST, (thread_id, ""))
    return cursor


class TurnSaver(PostgresSaver):
    """The saver of one turn, over the turn's connection. PostgresSaver writes (`put`,
    `put_writes`) through `_cursor(pipeline=True)` and reads through `_cursor()`: writes are
    recorded here and sent by the turn with its closing batch (`take`); a read sends what waits
    first, so it sees them. Should the library route writes elsewhere one day, they would simply
    run at once, in the same transaction: slower, never lost.

    `latest` is the thread's latest checkpoint when the turn already knows it: None for a thread
    the turn just started (it has none), or the row its opening batch read (`read_latest`). The
    first write forgets it: from then on the saver reads for itself."""

    def __init__(self, conn: Connection, *, serde: Any, latest: Any = UNREAD) -> None:
        super().__init__(conn, serde=serde)
        self._pending: list = []
        self._latest = latest

    def get_tuple(self, config: Any) -> Any:
        latest = self._latest
        if latest is UNREAD or get_checkpoint_id(config) or (latest is not None and latest["checkpoint"]["v"] < 4):
            return super().get_tuple(config)  # (a checkpoint older than v4 needs the saver's migration)
        return None if latest is None else self._load_checkpoint_tuple(latest)

    @contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
        if pipeline:
            with self.lock:
                self._latest = UNREAD
                yield _Recorder(self._pending)
            return
        self.flush()
        with super()._cursor() as cur:
            yield cur

    def take(self) -> list:
        """The writes waiting, handed over to be sent (see `send`)."""
        with self.lock:
            writes, self._pending = self._pending, []
        return writes

    def flush(self) -> None:
        writes = self.take()
        if writes:
            with self.conn.pipeline():
                send(self.conn, writes)


def send(conn: Connection, writes: list) -> None:
    """Queue recorded saver writes on `conn` (in its pipeline, when it has one)."""
    cursor = conn.cursor(binary=True)  # as the saver's own cursor: blobs travel as bytes
    for query, params, many in writes:
        if many:
            cursor.executemany(query, params)
        else:
            cursor.execute(query, params)


class GraphPerThread:
    """Each thread compiles the graph once; `on` runs it over one connection, inside that
    connection's transaction, so a turn's checkpoint commits with its read-model change."""

    def __init__(self, *, graph: StateGraph, pool: ConnectionPool) -> None:
        self._graph = graph
        self._pool = pool
        self._local = threading.local()
        self._serde = PostgresSaver(pool).serde  # stateless: one for every saver of the process

    def on(self, conn: Connection, *, latest: Any = UNREAD) -> CompiledStateGraph:
        compiled = getattr(self._local, "bound", None)
        if compiled is None:
            compiled = self._local.bound = self._graph.compile(checkpointer=PostgresSaver(self._pool))
        # This thread's own compiled graph: pointing it at this turn's connection affects no other thread.
        compiled.checkpointer = TurnSaver(conn, serde=self._serde, latest=latest)
        return compiled
