"""Appeal windows (EU DSA Art. 20): a decision executed opens one; an appeal inside it is taken,
one after it is 409 with the date it closed and writes nothing; the scheduler then makes the case
final (its graph thread ends, its record stays), and a case that closed on its own is final at once.
The worker runs in-process on the real database and demo platform; the api through its app."""

import threading
import uuid
from datetime import timedelta, timezone

import pytest
from sqlalchemy import select, text

from shared import transitions
from shared.audit import SYSTEM
from shared.db import enqueue, transaction
from shared.domain import CommandKind, Status
from shared.models import AuditEvent, MessageAttempt
from services.scheduler.main import Scheduler
from tests.support.arrange import case_row, decide, events, started
from tests.support.finality import (
    ABUSIVE, CLEAN, closed_case, record_rows, runner_with_window, thread_rows, window_length, window_passed,
)
from tests.support.processes import wait_until
from tests.support.scheduler import passes_at_once

APPEAL = {"reason": "the post quotes the insult to report it"}


@pytest.fixture
def short_window_runner(settings, fresh_platform):
    """Decisions executed by this runner can be appealed for half a second."""
    with runner_with_window(settings, seconds=0.5) as runner:
        yield runner


def late_message(runner, sessions, case_id) -> uuid.UUID:
    """A stray message for the case (as an operator's retry or a nudge would be), handled by the worker."""
    with transaction(sessions) as session:
        message_id = enqueue(session, case_id=case_id, kind=CommandKind.RETRY).id
    runner.handle(case_id=str(case_id), message_id=str(message_id), kind=CommandKind.RETRY)
    return message_id


def case_event_types(engine, case_id) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT type FROM case_events WHERE case_id = :c ORDER BY seq"),
                            {"c": case_id}).scalars().all()


def test_a_decision_executed_opens_a_window_of_the_setting(runner, sessions, engine, settings, client):
    case_id = closed_case(runner, sessions)
    assert window_length(engine, case_id) == timedelta(days=settings.appeal_window_days)  # 183 by default
    shown = client.get(f"/v1/cases/{case_id}", headers=client.as_("sup-cy")).json()
    assert shown["may_appeal"] is True and shown["final_at"] is None
    assert shown["appealable_until"] is not None

    appealed = client.post(f"/v1/cases/{case_id}/rollback", json=APPEAL, headers=client.as_("sup-cy"))
    assert appealed.status_code == 202, appealed.text
    assert case_row(sessions, case_id).status == Status.ROLLING_BACK


def test_after_the_window_an_appeal_is_refused_with_the_date_and_writes_nothing(
        short_window_runner, sessions, engine, client, rows):
    case_id = closed_case(short_window_runner, sessions)
    wait_until(lambda: window_passed(engine, case_id), timeout=10, what="the half-second window to pass")
    shown = client.get(f"/v1/cases/{case_id}", headers=client.as_("sup-cy")).json()
    assert shown["may_appeal"] is False and shown["status"] == "closed"
    closed_on = case_row(sessions, case_id).appealable_until.astimezone(timezone.utc)

    before, events_before = rows(), case_event_types(engine, case_id)
    refused = client.post(f"/v1/cases/{case_id}/rollback", json=APPEAL, headers=client.as_("sup-cy"))
    assert refused.status_code == 409
    assert f"the appeal window closed on {closed_on:%Y-%m-%d %H:%M:%S} UTC" in refused.json()["message"]
    assert rows() == before and case_event_types(engine, case_id) == events_before
    assert case_row(sessions, case_id).status == Status.CLOSED


def test_an_appeal_that_races_the_window_closing_is_refused_whole(runner, sessions, engine, client, rows):
    """The api checks the window, then the scheduler closes it before the appeal's move commits: the
    one writer's own check (under the row lock) refuses the move, and the api says why."""
    case_id = closed_case(runner, sessions)
    closing = engine.connect()
    transaction_ = closing.begin()
    closing.execute(text("UPDATE cases SET appealable_until = now() - interval '1 second', final_at = now() "
                         "WHERE id = :c"), {"c": case_id})  # not committed yet: the api still sees it open
    before = rows()
    answer = {}
    appeal = threading.Thread(target=lambda: answer.update(response=client.post(
        f"/v1/cases/{case_id}/rollback", json=APPEAL, headers=client.as_("sup-cy"))))
    appeal.start()
    try:
        wait_until(lambda: waiting_on_a_lock(engine), timeout=10, what="the appeal to wait for the case's row")
    finally:
        transaction_.commit()
        closing.close()
    appeal.join(10)
    assert answer["response"].status_code == 409
    assert "the appeal window closed on" in answer["response"].json()["message"]
    assert rows() == before and case_row(sessions, case_id).status == Status.CLOSED


def waiting_on_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")).scalar() > 0


def test_the_scheduler_makes_a_case_final_ends_its_thread_and_keeps_its_record(
        runner, short_window_runner, sessions, engine, settings, client):
    open_case = closed_case(runner, sessions)
    due = closed_case(short_window_runner, sessions)
    kept = record_rows(engine, due)
    assert all(thread_rows(engine, case_id)["checkpoints"] > 0 for case_id in (open_case, due))
    assert kept["decisions"] == 1 and kept["actions"] == 2  # remove and ban
    wait_until(lambda: window_passed(engine, due), timeout=10, what="the half-second window to pass")

    scheduler = Scheduler(engine=engine, settings=settings)
    assert scheduler.run_once()["finalized"] == 1
    assert scheduler.run_once()["finalized"] == 0  # once

    assert case_row(sessions, due).final_at is not None and case_row(sessions, due).status == Status.CLOSED
    assert thread_rows(engine, due) == {"checkpoints": 0, "checkpoint_writes": 0, "checkpoint_blobs": 0}
    assert thread_rows(engine, open_case)["checkpoints"] > 0  # another case's thread is left alone
    assert case_row(sessions, open_case).final_at is None
    after = record_rows(engine, due)
    assert {table: after[table] for table in ("decisions", "actions", "statements")} == {
        table: kept[table] for table in ("decisions", "actions", "statements")}
    assert after["audit_events"] == kept["audit_events"] + 1
    with sessions() as session:
        closing = session.scalars(select(AuditEvent).where(AuditEvent.case_id == due)
                                  .order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (closing.event, closing.actor, closing.to_status) == ("appeal_window_closed", "system:scheduler", "closed")
    assert case_event_types(engine, due)[-1] == "case.final"

    shown = client.get(f"/v1/cases/{due}", headers=client.as_("sup-cy")).json()
    assert shown["may_appeal"] is False and shown["final_at"] is not None
    refused = client.post(f"/v1/cases/{due}/rollback", json=APPEAL, headers=client.as_("sup-cy"))
    assert refused.status_code == 409 and "the appeal window closed on" in refused.json()["message"]


def test_a_late_message_for_a_final_case_is_acknowledged_and_writes_no_checkpoint(
        short_window_runner, runner, sessions, engine, settings):
    case_id = closed_case(short_window_runner, sessions)
    wait_until(lambda: window_passed(engine, case_id), timeout=10, what="the half-second window to pass")
    Scheduler(engine=engine, settings=settings).run_once()
    audit_before = events(sessions, case_id)

    message_id = late_message(runner, sessions, case_id)

    assert thread_rows(engine, case_id)["checkpoints"] == 0
    assert case_row(sessions, case_id).status == Status.CLOSED and events(sessions, case_id) == audit_before
    with sessions() as session:
        assert session.get(MessageAttempt, message_id).done_at is not None  # settled: not redelivered forever


def test_a_case_that_closes_on_its_own_is_final_at_once_and_leaves_no_thread(runner, sessions, engine, client):
    case_id = started(runner, sessions, CLEAN)
    case = case_row(sessions, case_id)
    assert case.status == Status.AUTO_CLOSED and case.final_at is not None and case.appealable_until is None
    assert thread_rows(engine, case_id) == {"checkpoints": 0, "checkpoint_writes": 0, "checkpoint_blobs": 0}

    late_message(runner, sessions, case_id)  # would start its graph over, were it not final
    assert thread_rows(engine, case_id)["checkpoints"] == 0 and case_row(sessions, case_id).status == Status.AUTO_CLOSED
    refused = client.post(f"/v1/cases/{case_id}/rollback", json=APPEAL, headers=client.as_("sup-cy"))
    assert refused.status_code == 409


def test_a_case_that_ends_on_its_own_after_a_review_loses_its_whole_thread(runner, sessions, engine):
    """A re-analysis that finds nothing after all: the thread of the earlier pause goes with the move."""
    case_id = started(runner, sessions, ABUSIVE)
    other = started(runner, sessions, ABUSIVE)
    decide(sessions, case_id, "reanalyze", by="mod-ana", note="a quote")
    assert thread_rows(engine, case_id)["checkpoints"] > 0
    with transaction(sessions) as session:  # what the worker's move is when the analysis comes back clean
        assert transitions.move(session, case_id=case_id, to=Status.AUTO_CLOSED, actor=SYSTEM, event="auto_closed",
                                expect=[Status.ANALYZING]) is not None
    assert thread_rows(engine, case_id) == {"checkpoints": 0, "checkpoint_writes": 0, "checkpoint_blobs": 0}
    assert case_row(sessions, case_id).final_at is not None
    assert thread_rows(engine, other)["checkpoints"] > 0


def test_several_schedulers_close_each_window_once(settings, engine, sessions, case_in):
    cases = [case_in(Status.CLOSED) for _ in range(30)]
    with engine.begin() as conn:
        conn.execute(text("UPDATE cases SET appealable_until = now() - interval '1 second'"))
    passes = passes_at_once(engine, settings)
    assert sum(done["finalized"] for done in passes) == 30
    assert [events(sessions, uuid.UUID(case_id)).count("appeal_window_closed") for case_id in cases] == [1] * 30
