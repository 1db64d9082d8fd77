"""Two deliveries for one case never run its graph at the same time: the second waits."""

import threading
import time

import psycopg.errors
import pytest
from sqlalchemy import text

from services.worker.main import build_runner
from shared.domain import CommandKind, Status
from tests.support.arrange import case_row, post_case


def test_a_delivery_waits_while_another_holds_the_case(runner, engine, sessions):
    case_id, message_id = post_case(sessions, text="You are a worthless idiot, shut up you moron")
    with engine.connect() as other_worker:
        other_worker.execute(text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), {"key": str(case_id)})
        other_worker.commit()
        delivery = threading.Thread(target=runner.handle, kwargs={
            "case_id": str(case_id), "message_id": str(message_id), "kind": CommandKind.START})
        delivery.start()
        delivery.join(1.0)
        assert delivery.is_alive(), "the delivery ran although another worker held the case"
        assert case_row(sessions, case_id).status == Status.RECEIVED
        other_worker.execute(text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": str(case_id)})
        other_worker.commit()
    delivery.join(30)
    assert not delivery.is_alive()
    assert case_row(sessions, case_id).status == Status.AWAITING_REVIEW


def test_a_delivery_gives_up_waiting_at_the_lock_timeout(settings, engine, sessions, fresh_platform):
    """The wait is bounded (`CASE_LOCK_TIMEOUT_MS`): the delivery fails, to be retried, and changes nothing."""
    runner, closers = build_runner(settings.model_copy(update={"case_lock_timeout_ms": 300}), threads=1)
    case_id, message_id = post_case(sessions, text="You are a worthless idiot, shut up you moron")
    try:
        with engine.connect() as other_worker:
            other_worker.execute(text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), {"key": str(case_id)})
            other_worker.commit()
            started = time.monotonic()
            with pytest.raises(psycopg.errors.LockNotAvailable):
                runner.handle(case_id=str(case_id), message_id=str(message_id), kind=CommandKind.START)
            assert time.monotonic() - started < 10
            other_worker.rollback()
    finally:
        for close in closers:
            close()
    assert case_row(sessions, case_id).status == Status.RECEIVED
