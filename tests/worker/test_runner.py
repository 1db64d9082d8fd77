"""The case graph driven by the runner, with the real checkpointer, database and demo platform."""

import json
import logging

import pytest
from sqlalchemy import select

from shared.domain import ActionStatus, CommandKind, Status
from shared.models import Action, MessageAttempt
from services.worker.main import build_runner
from tests.support.arrange import appeal, case_row, decide, events, nudge, post_case, retry, started

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"
CLEAN = "Lovely weather at the lake today, we had a picnic with the kids."


def send(runner, case_id, message_id, kind):
    runner.handle(case_id=str(case_id), message_id=str(message_id), kind=kind)


def test_clean_content_closes_on_its_own(runner, sessions, fresh_platform):
    case_id = started(runner, sessions, CLEAN)

    case = case_row(sessions, case_id)
    assert case.status == Status.AUTO_CLOSED
    assert case.analysis["category"] == "clean"
    assert events(sessions, case_id) == ["analysis_started", "analysis_completed", "auto_closed"]
    assert fresh_platform.get("/calls").json() == []


def test_review_decision_appeal_rollback_and_second_review(runner, sessions, fresh_platform):
    case_id = started(runner, sessions, ABUSIVE, author_id="troll")
    case = case_row(sessions, case_id)
    external_id = case.external_id
    assert case.status == Status.AWAITING_REVIEW
    assert case.review["round"] == 1 and "remove_and_ban" in case.review["allowed_decisions"]
    decision_field = case.review["decision_schema"]["properties"]["decision"]
    assert decision_field["enum"] == case.review["allowed_decisions"]
    assert decision_field["default"] == case.analysis["suggested_decision"]  # preselected on the page

    send(runner, case_id, decide(sessions, case_id, "remove_and_ban", by="mod-ana"), CommandKind.RESUME)
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert fresh_platform.get(f"/content/{external_id}").json()["visible"] is False
    assert fresh_platform.get("/users/troll").json()["banned"] is True

    send(runner, case_id, appeal(sessions, case_id, by="sup-cy"), CommandKind.ROLLBACK)
    case = case_row(sessions, case_id)
    assert (case.status, case.review_round) == (Status.AWAITING_REVIEW, 2)
    assert fresh_platform.get(f"/content/{external_id}").json()["visible"] is True
    assert fresh_platform.get("/users/troll").json()["banned"] is False
    reversals = [call["action"] for call in fresh_platform.get("/calls").json()][2:]
    assert reversals == ["unban", "restore"]  # newest first

    send(runner, case_id, decide(sessions, case_id, "warn", by="sup-dee"), CommandKind.RESUME)
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert fresh_platform.get("/users/troll").json() == {"id": "troll", "banned": False, "warnings": 1}
    assert events(sessions, case_id) == [
        "analysis_started", "analysis_completed", "awaiting_review", "decision_made",
        "action_executed", "action_executed", "closed", "appeal_filed",
        "action_reversed", "action_reversed", "awaiting_review", "decision_made",
        "action_executed", "closed",
    ]
    assert not case_row(sessions, case_id).actions_refused


def test_reanalyze_feeds_the_note_back_and_is_bounded(runner, sessions, fresh_platform):
    case_id = started(runner, sessions, ABUSIVE)
    for attempt in (1, 2):
        send(runner, case_id, decide(sessions, case_id, "reanalyze", by="mod-ana", note="sarcasm between friends"),
             CommandKind.RESUME)
        case = case_row(sessions, case_id)
        assert (case.status, case.review_attempt) == (Status.AWAITING_REVIEW, attempt)
        assert any("sarcasm between friends" in reason for reason in case.analysis["reasons"])
    assert "reanalyze" not in case.review["allowed_decisions"]


def test_a_message_delivered_again_has_no_effect(runner, sessions, fresh_platform):
    case_id = started(runner, sessions, ABUSIVE)
    resume = decide(sessions, case_id, "warn", by="mod-ana")
    send(runner, case_id, resume, CommandKind.RESUME)
    send(runner, case_id, resume, CommandKind.RESUME)
    with sessions() as session:
        assert session.get(MessageAttempt, resume).attempts == 1
    assert len(fresh_platform.get("/calls").json()) == 1


def test_an_action_in_doubt_is_retried_with_the_same_key(runner, sessions, fresh_platform):
    case_id = started(runner, sessions, ABUSIVE, author_id="doubt")
    key = f"{case_id}:r1:warn"
    # The worker called the platform, then died before it could mark the action confirmed.
    fresh_platform.post("/users/doubt/warn", headers={"Idempotency-Key": key}).raise_for_status()
    with sessions.begin() as session:
        session.add(Action(case_id=case_id, round=1, kind="warn", target_id="doubt", idempotency_key=key, attempts=1))

    send(runner, case_id, decide(sessions, case_id, "warn", by="mod-ana"), CommandKind.RESUME)

    assert fresh_platform.get("/users/doubt").json()["warnings"] == 1
    calls = fresh_platform.get("/calls").json()
    assert [call["replayed"] for call in calls] == [False, True]
    with sessions() as session:
        assert session.scalar(select(Action.status).filter_by(idempotency_key=key)) == ActionStatus.CONFIRMED


def test_platform_outage_fails_the_case_after_its_attempts_and_retry_finishes_it(runner, settings, sessions, fresh_platform):
    case_id = started(runner, sessions, ABUSIVE, author_id="outage")
    fresh_platform.post("/_admin/faults", json={"status": 503, "count": 1000}).raise_for_status()
    resume = decide(sessions, case_id, "warn", by="mod-ana")
    for _ in range(settings.step_max_attempts - 1):
        with pytest.raises(Exception):
            send(runner, case_id, resume, CommandKind.RESUME)  # Dramatiq would retry these
    send(runner, case_id, resume, CommandKind.RESUME)  # the last attempt fails the case instead

    case = case_row(sessions, case_id)
    assert case.status == Status.FAILED
    assert case.error["step"] == "execute" and "503" in case.error["message"]

    fresh_platform.post("/_admin/faults", json={"status": 0}).raise_for_status()
    send(runner, case_id, retry(sessions, case_id), CommandKind.RETRY)
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert fresh_platform.get("/users/outage").json()["warnings"] == 1


def test_a_poison_message_ends_the_case_in_failed(runner, settings, sessions, fresh_platform):
    case_id, message_id = post_case(sessions, text=ABUSIVE)
    # Deliveries that killed their worker were counted before any work, never finished.
    with sessions.begin() as session:
        session.add(MessageAttempt(message_id=message_id, case_id=case_id, attempts=settings.step_max_attempts))
    send(runner, case_id, message_id, CommandKind.START)
    case = case_row(sessions, case_id)
    assert case.status == Status.FAILED
    assert "deliveries" in case.error["message"]


def test_a_paused_case_lives_in_postgres_only(settings, sessions, fresh_platform):
    first, closers = build_runner(settings, threads=1)
    case_id = started(first, sessions, ABUSIVE, author_id="paused")
    for close in closers:
        close()  # the process that paused the case is gone

    second, closers = build_runner(settings, threads=1)
    try:
        send(second, case_id, decide(sessions, case_id, "warn", by="mod-ana"), CommandKind.RESUME)
    finally:
        for close in closers:
            close()
    assert case_row(sessions, case_id).status == Status.CLOSED


def test_a_nudge_continues_a_case_whose_message_was_lost(runner, sessions):
    case_id, _lost = post_case(sessions, text=ABUSIVE)
    send(runner, case_id, nudge(sessions, case_id), CommandKind.RETRY)
    assert case_row(sessions, case_id).status == Status.AWAITING_REVIEW


def test_an_action_the_platform_refuses_is_recorded_and_shows_on_the_case(runner, sessions, fresh_platform):
    case_id = started(runner, sessions, ABUSIVE, author_id="refused")
    fresh_platform.post("/_admin/faults", json={"status": 403, "count": 1}).raise_for_status()
    send(runner, case_id, decide(sessions, case_id, "warn", by="mod-ana"), CommandKind.RESUME)

    case = case_row(sessions, case_id)
    assert (case.status, case.actions_refused) == (Status.CLOSED, True)
    with sessions() as session:
        assert session.scalar(select(Action.status).filter_by(case_id=case_id)) == ActionStatus.REFUSED
    assert fresh_platform.get("/users/refused").json()["warnings"] == 0


def test_a_message_for_a_case_that_moved_on_leaves_it_where_a_person_put_it(runner, sessions, fresh_platform):
    case_id, first = post_case(sessions, text=ABUSIVE)
    send(runner, case_id, first, CommandKind.START)
    decide(sessions, case_id, "warn", by="mod-ana")  # its resume message is still on its way
    send(runner, case_id, nudge(sessions, case_id), CommandKind.RETRY)  # meanwhile, an older kind of news
    # the nudge's turn finds the decision on record and runs it: the case closes once, no earlier
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert len(fresh_platform.get("/calls").json()) == 1


def test_each_message_is_counted_in_the_metrics_and_logged_with_its_case_id(runner, settings, sessions):
    from prometheus_client import REGISTRY

    from shared.logging import JsonFormatter

    def handled(outcome: str) -> float:
        return REGISTRY.get_sample_value("vigil_worker_messages_total", {"kind": "start", "outcome": outcome}) or 0

    lines: list[str] = []
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("worker"))
    handler.emit = lambda record: lines.append(handler.format(record))
    logging.getLogger("services.worker").addHandler(handler)
    try:
        done, failed = handled("done"), handled("failed")
        started(runner, sessions, CLEAN)
        case_id, message_id = post_case(sessions, text=ABUSIVE)
        with sessions.begin() as session:  # a poison message: its case fails, with an error logged
            session.add(MessageAttempt(message_id=message_id, case_id=case_id, attempts=settings.step_max_attempts))
        send(runner, case_id, message_id, CommandKind.START)
    finally:
        logging.getLogger("services.worker").removeHandler(handler)

    assert (handled("done"), handled("failed")) == (done + 1, failed + 1)
    logged = [json.loads(line) for line in lines]
    assert any(entry["level"] == "ERROR" and entry["case_id"] == str(case_id) for entry in logged)
    assert all({"time", "level", "component", "pid", "logger", "message"} <= entry.keys() for entry in logged)
