"""The worker's LangGraph runs hand their checkpoint saves to no thread (services/worker/inline.py),
and a case still pauses, resumes and closes with its checkpoint saved."""

import threading

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.pregel import _loop

from shared.domain import CommandKind, Status
from services.worker.checkpoints import TurnSaver, read_latest
from services.worker.inline import InlineBackgroundExecutor
from tests.support.arrange import case_row, decide, post_case

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"


def threads_started_by(work) -> int:
    started = []
    threading.setprofile(lambda *_: started.append(threading.get_ident()))  # runs first in every new thread
    try:
        work()
    finally:
        threading.setprofile(None)
    return len(set(started))


def test_a_worker_runs_its_graph_without_starting_threads(runner, sessions, engine):
    assert _loop.BackgroundExecutor is InlineBackgroundExecutor  # an upgrade of LangGraph moved the name
    case_id, start = post_case(sessions, text=ABUSIVE, author_id="troll")

    def pause_then_close():
        runner.handle(case_id=str(case_id), message_id=str(start), kind=CommandKind.START)
        runner.handle(case_id=str(case_id), message_id=str(decide(sessions, case_id, "remove", by="mod-ana")),
                      kind=CommandKind.RESUME)

    assert threads_started_by(pause_then_close) == 0
    assert case_row(sessions, case_id).status == Status.CLOSED
    with engine.connect() as conn:  # the checkpoint at the appeal window was saved in the turn
        saved = conn.exec_driver_sql("SELECT count(*) FROM checkpoints WHERE thread_id = %s", (str(case_id),))
        assert saved.scalar() >= 2


def test_a_turn_reads_the_latest_checkpoint_as_the_saver_would(runner, sessions, settings):
    """A decision's turn takes its graph's latest checkpoint from the opening batch (`read_latest`)
    instead of the saver's own query: what the graph resumes from must be the same tuple, pending
    writes included."""
    case_id, start = post_case(sessions, text=ABUSIVE, author_id="troll")
    runner.handle(case_id=str(case_id), message_id=str(start), kind=CommandKind.START)
    config = {"configurable": {"thread_id": str(case_id), "checkpoint_ns": ""}}
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        saver = PostgresSaver(conn)
        expected = saver.get_tuple(config)
        latest = read_latest(conn, str(case_id)).fetchone()
        got = TurnSaver(conn, serde=saver.serde, latest=latest).get_tuple(config)
    assert expected is not None and expected.checkpoint["channel_values"]
    assert got.checkpoint == expected.checkpoint
    assert got.metadata == expected.metadata
    assert got.pending_writes == expected.pending_writes
    assert got.config == expected.config and got.parent_config == expected.parent_config
