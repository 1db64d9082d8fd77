"""A turn sends the saver's row-by-row checkpoint writes as one statement per kind of row
(services/worker/checkpoints.py), storing exactly what the library's own statements store."""

import uuid

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from services.worker import checkpoints


def recorded_writes(settings) -> list:
    """What a TurnSaver keeps for the closing batch when a small graph runs to an interrupt."""

    def ask(state: dict) -> dict:
        return {"answer": interrupt({"question": state["question"]})}

    graph = StateGraph(dict)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    with psycopg.connect(settings.libpq_url, autocommit=True) as conn:
        saver = checkpoints.TurnSaver(conn, serde=PostgresSaver(conn).serde, empty=True)
        graph.compile(checkpointer=saver).invoke({"question": "why?"}, {"configurable": {"thread_id": "t"}},
                                                 durability="exit")
        return saver.take()


def as_thread(writes: list, thread_id: str) -> list:
    return [(query, [(thread_id, *row[1:]) for row in params] if many else (thread_id, *params[1:]), many)
            for query, params, many in writes]


def stored(conn, thread_id: str) -> dict:
    return {table: sorted(tuple(row[1:]) for row in conn.execute(
        f"SELECT * FROM {table} WHERE thread_id = %s", (thread_id,)).fetchall())
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")}


def test_collapsed_writes_store_what_the_library_stores(settings):
    writes = recorded_writes(settings)
    many = [query for query, _, is_many in writes if is_many]
    assert many and all(query in checkpoints._AS_ONE for query in many)  # else the library changed them

    ours, theirs = f"ours-{uuid.uuid4()}", f"theirs-{uuid.uuid4()}"
    with psycopg.connect(settings.libpq_url) as conn:
        checkpoints.send(conn, as_thread(writes, ours))
        cursor = conn.cursor(binary=True)
        for query, params, is_many in as_thread(writes, theirs):
            (cursor.executemany if is_many else cursor.execute)(query, params)
        conn.commit()
        assert stored(conn, ours) == stored(conn, theirs)
        assert stored(conn, ours)["checkpoint_blobs"] or stored(conn, ours)["checkpoint_writes"]
