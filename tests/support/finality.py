"""Arranging decided cases for the appeal-window and retention tests, and looking at what a case
keeps: its graph thread (checkpoint rows) and its record (audit, decisions, actions, ...)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import text

from shared import threads
from shared.domain import CommandKind, Status
from services.worker.main import build_runner
from tests.support.arrange import case_row, decide, started

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"
CLEAN = "Lovely weather at the lake today, we had a picnic with the kids."
RECORD = ("audit_events", "decisions", "actions", "statements", "case_events")


@contextmanager
def runner_with_window(settings, *, seconds: float) -> Iterator:
    """A worker's runner whose decisions open appeal windows of `seconds`, closed on leaving."""
    runner, closers = build_runner(settings.model_copy(update={"appeal_window_days": seconds / 86400}), threads=1)
    try:
        yield runner
    finally:
        for close in closers:
            close()


def closed_case(runner, sessions, *, decision: str = "remove_and_ban") -> uuid.UUID:
    """A case the worker analysed, a moderator decided and the worker executed: `closed`."""
    case_id = started(runner, sessions, ABUSIVE, author_id="troll")
    assert case_row(sessions, case_id).status == Status.AWAITING_REVIEW
    runner.handle(case_id=str(case_id), message_id=str(decide(sessions, case_id, decision, by="mod-ana")),
                  kind=CommandKind.RESUME)
    assert case_row(sessions, case_id).status == Status.CLOSED
    return case_id


def thread_rows(engine, case_id) -> dict[str, int]:
    """The rows of the case's LangGraph thread, per checkpoint table."""
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE thread_id = :t"),
                                    {"t": str(case_id)}).scalar() for table in threads.TABLES}


def record_rows(engine, case_id, tables=RECORD) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE case_id = :c"), {"c": case_id}).scalar()
                for table in tables}


def window_passed(engine, case_id) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT appealable_until <= now() FROM cases WHERE id = :c"), {"c": case_id}).scalar()


def window_length(engine, case_id) -> timedelta:
    """How long after the case closed its window runs (both set by the same statement)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT appealable_until - updated_at FROM cases WHERE id = :c"),
                            {"c": case_id}).scalar()
