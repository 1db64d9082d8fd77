"""LangGraph's saves run in the thread that asked for them.

LangGraph's sync loop hands each checkpoint save to a thread pool it creates for the run
(`BackgroundExecutor`, over langchain_core's `get_executor_for_config`): every `invoke` starts a
thread for one hand-off and waits for it. The worker's saves only append statements to the turn's
closing batch (`checkpoints.TurnSaver`), so the hand-off costs more than the save: in a profile of
resume → closed, starting that thread and waiting on it took 15% of a message's time.

`run_saves_inline` swaps the sync loop's executor for one that runs each task at once in the
calling thread and returns its finished future, so the loop's own bookkeeping (ordering of saves,
exceptions re-raised on exit) is unchanged. Our graph never runs two nodes in one step, so nothing
that could have run side by side is serialised. It replaces a name inside LangGraph, the one
place LangGraph offers no setting for; `tests/worker/test_inline_saves.py` fails if an upgrade
moves it.
"""

import concurrent.futures
from contextlib import ExitStack
from typing import Any

from langgraph.pregel import _loop
from langgraph.pregel._executor import BackgroundExecutor


class _Inline(concurrent.futures.Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # the loop reads it from the future, as from a thread's
            future.set_exception(error)
        return future


class InlineBackgroundExecutor(BackgroundExecutor):
    def __init__(self, config: Any) -> None:  # noqa: ARG002 - no pool to size
        self.stack = ExitStack()
        self.executor = _Inline()
        self.tasks = {}


def run_saves_inline() -> None:
    """For this process: LangGraph's sync runs hand their saves to no thread."""
    _loop.BackgroundExecutor = InlineBackgroundExecutor
