"""The worker's LangGraph runs hand their checkpoint saves to no thread (services/worker/inline.py),
and a case still pauses, resumes and closes with its checkpoint saved."""

import threading

from langgraph.pregel import _loop

from shared.domain import CommandKind, Status
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
