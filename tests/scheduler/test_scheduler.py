"""The scheduler's timed rules on the real database: escalation past a deadline, claim expiry,
stuck cases; several schedulers at once; and `vigil scheduler` as a process."""

import time

import httpx
import pytest
from sqlalchemy import func, select, text, update

from shared.db import transaction
from shared.desk import write_review_targets
from shared.models import AuditEvent, Case, OutboxMessage
from services.scheduler.main import Scheduler
from services.scheduler.stuck import nudge_stuck_cases
from tests.support.arrange import add_commands
from tests.support.desk import case_in_review
from tests.support.processes import Process, free_port, settings_env, wait_until
from tests.support.scheduler import passes_at_once


@pytest.fixture
def short_targets(settings, engine):
    """Medium cases are due a second after they enter review."""
    short = settings.model_copy(update={"review_targets": "medium=1s"})
    with engine.begin() as conn:
        write_review_targets(conn.connection.driver_connection, short.review_target_durations)
    yield short
    with engine.begin() as conn:
        write_review_targets(conn.connection.driver_connection, settings.review_target_durations)


def medium_target(sessions) -> float:
    with sessions() as session:
        return session.scalar(text("SELECT extract(epoch FROM target) FROM review_targets WHERE severity = 'medium'"))


def escalations(sessions, case_id) -> list[dict]:
    with sessions() as session:
        return session.scalars(select(AuditEvent.data).where(AuditEvent.case_id == case_id,
                                                             AuditEvent.event == "case_escalated")).all()


def test_a_case_past_its_deadline_is_escalated_once_and_its_claim_released(short_targets, engine, sessions):
    case_id = case_in_review(sessions, severity="medium")
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(
            claimed_by="mod-ana", claim_expires_at=text("now() + interval '10 minutes'")))
    scheduler = Scheduler(engine=engine, settings=short_targets)
    assert scheduler.run_once()["escalated"] == 0  # not due yet
    time.sleep(1.1)
    assert scheduler.run_once()["escalated"] == 1
    with sessions() as session:
        case = session.get(Case, case_id)
    assert (case.priority, case.escalations, case.claimed_by) == (30, 1, None)
    assert case.due_at is not None and not case.escalated_to_supervisors
    assert escalations(sessions, case_id)[0]["claim_released_from"] == "mod-ana"
    assert scheduler.run_once()["escalated"] == 0  # its new deadline is a second away again


def test_escalation_can_move_a_case_to_the_supervisors(short_targets, engine, sessions, client):
    case_id = case_in_review(sessions, severity="medium")
    time.sleep(1.1)
    Scheduler(engine=engine, settings=short_targets.model_copy(update={"escalate_to_supervisors": True})).run_once()
    assert client.post("/v1/queue/next", headers=client.as_("mod-ana")).status_code == 204
    taken = client.post("/v1/queue/next", headers=client.as_("sup-cy"))
    assert taken.status_code == 200 and taken.json()["case_id"] == case_id
    assert client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"},
                       headers=client.as_("sup-cy")).status_code == 202


def test_several_schedulers_escalate_each_case_once(short_targets, engine, sessions):
    cases = [case_in_review(sessions, severity="medium") for _ in range(30)]
    time.sleep(1.1)
    passes = passes_at_once(engine, short_targets)
    assert sum(done["escalated"] for done in passes) == 30
    assert [len(escalations(sessions, case_id)) for case_id in cases] == [1] * 30


def test_a_lapsed_claim_is_cleared_on_the_record(settings, engine, sessions):
    case_id = case_in_review(sessions)
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(
            claimed_by="mod-ben", claim_expires_at=text("now() - interval '1 second'")))
    assert Scheduler(engine=engine, settings=settings).run_once()["claims_expired"] == 1
    with sessions() as session:
        assert session.get(Case, case_id).claimed_by is None
        expired = session.scalars(select(AuditEvent.data).where(AuditEvent.event == "claim_expired")).one()
    assert expired["by"] == "mod-ben"


def test_a_case_stuck_without_a_message_is_nudged(settings, engine, sessions, case_in):
    case_id = case_in("executing")
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(updated_at=text("now() - interval '1 hour'")))
    assert Scheduler(engine=engine, settings=settings).run_once()["nudged"] == 1
    with sessions() as session:
        assert session.scalars(select(OutboxMessage.kind).where(OutboxMessage.case_id == case_id)).all() == ["retry"]


def test_a_case_whose_message_was_lost_is_nudged_once(settings, sessions, engine):
    [message_id] = add_commands(sessions, 1)
    with engine.begin() as conn:  # the message went out long ago and never arrived
        conn.execute(text("UPDATE outbox SET published_at = now() - interval '1 hour' WHERE id = :id"), {"id": message_id})
        conn.execute(text("UPDATE cases SET status = 'analyzing', updated_at = now() - interval '1 hour'"))
    add_commands(sessions, 1)  # a case that just arrived is left alone
    with engine.begin() as conn:
        assert nudge_stuck_cases(conn, stuck_after_seconds=600) == 1
    with engine.begin() as conn:
        assert nudge_stuck_cases(conn, stuck_after_seconds=600) == 0  # its nudge is on its way now
    with sessions() as session:
        kinds = session.execute(text("SELECT kind FROM outbox o JOIN cases c ON c.id = o.case_id "
                                     "WHERE c.status = 'analyzing' ORDER BY o.seq")).scalars().all()
        events = session.execute(text("SELECT event, actor FROM audit_events")).all()
    assert kinds == ["start", "retry"]
    assert events == [("case_nudged", "system:scheduler")]


def test_vigil_scheduler_escalates_as_a_process_and_stops_on_sigterm(settings, sessions):
    fast = settings.model_copy(update={"review_targets": "medium=1s", "scheduler_interval": 0.2})
    process = Process("scheduler", ["scheduler"], settings_env(fast))
    try:
        wait_until(lambda: medium_target(sessions) == 1.0, timeout=20, what="the scheduler to write its targets")
        case_id = case_in_review(sessions, severity="medium")
        wait_until(lambda: len(escalations(sessions, case_id)) >= 1, timeout=20, what="an escalation")
    finally:
        process.stop()
        # the process wrote its REVIEW_TARGETS; put the test run's back
        with transaction(sessions) as session:
            write_review_targets(session.connection().connection.driver_connection, settings.review_target_durations)
    assert process.popen.returncode == 0, process.log()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == "system:scheduler")) >= 1


def test_vigil_scheduler_serves_its_metrics(settings, sessions):
    port = free_port()
    process = Process("scheduler", ["scheduler"], settings_env(settings.model_copy(update={
        "scheduler_metrics_port": port, "scheduler_interval": 0.2})))
    try:
        case_in_review(sessions)

        def reported() -> bool:
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            return "vigil_scheduler_passes_total" in body and "vigil_cases_overdue 0.0" in body

        wait_until(reported, timeout=20, what="the scheduler's metrics")
    finally:
        process.stop()
