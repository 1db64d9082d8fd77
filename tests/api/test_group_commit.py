"""Group commit of new cases and decisions: concurrent commands share commits, each is committed
before its 202, and a command the database refuses fails alone."""

import asyncio
import concurrent.futures
import uuid

import psycopg
import pytest
from sqlalchemy import func, select

from shared.domain import CommandKind, Status
from shared.models import AuditEvent, Case, DecisionRecord, OutboxMessage
from shared.transitions import Decider, NewCase, Wakeups, moves_statement
from services.api.commits import Decisions, Intake
from services.api.db import make_pool


def together(settings, kind, submit, commands: list) -> list:
    """What a group commit of its own (`kind`: Intake or Decisions) answers each of `commands`, sent at
    once through `submit(group, command)` (an exception where one failed)."""
    async def send() -> list:
        pool = make_pool(settings)
        await pool.open()
        try:
            group = kind(pool=pool, wakeups=Wakeups(interval=1.0))
            return await asyncio.gather(*(submit(group, one) for one in commands), return_exceptions=True)
        finally:
            await pool.close()

    return asyncio.run(send())


def posted_together(settings, cases: list[NewCase]) -> list:
    return together(settings, Intake, lambda intake, case: intake.create(case), cases)


def removal(case_id, by: str, note: str | None = None, **other) -> dict:
    """The move a moderator's "remove" of `case_id` makes (as the api's resume does), `other` changed."""
    return {"case_id": case_id, "to": Status.EXECUTING, "actor": by, "event": "decision_made",
            "expect": [Status.AWAITING_REVIEW], "claimable_by": by, "set": {"review": None},
            "command": CommandKind.RESUME, "decider": Decider(by, "moderator", "remove", note),
            "data": {"decision": "remove", "note": note}, **other}


def decided_together(settings, decisions: list[tuple[str, str, str | None]]) -> list:
    """Each (case id, reviewer, note) decides its case "remove", all at once."""
    def decide(group, decision):
        case_id, by, note = decision
        return group.move(**removal(uuid.UUID(case_id), by, note))

    return together(settings, Decisions, decide, decisions)


def test_every_accepted_case_is_committed_with_its_audit_event_and_outbox_row(client, sessions):
    def post(n: int) -> str:
        answer = client.post("/v1/cases", json={"external_id": f"burst-{n}", "content": {"text": "hi", "author_id": "u"}},
                             headers=client.as_("upstream"))
        assert answer.status_code == 202
        with sessions() as session:  # visible to anyone the moment the 202 is out
            assert session.get(Case, answer.json()["case_id"]) is not None
        return answer.json()["case_id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(post, range(80)))
    assert len(set(ids)) == 80
    with sessions() as session:
        for model in (Case, AuditEvent, OutboxMessage):
            assert session.scalar(select(func.count()).select_from(model)) == 80


def test_a_case_the_database_refuses_fails_alone(settings, sessions):
    def case(text: str) -> NewCase:
        return NewCase(case_id=uuid.uuid4(), tenant="t", external_id=uuid.uuid4().hex,
                       content={"text": text, "author_id": "u"}, metadata={}, actor="upstream")

    good, bad = [case(f"fine {n}") for n in range(5)], case("NUL \x00 is not storable")
    results = posted_together(settings, [*good[:2], bad, *good[2:]])
    assert results[:2] + results[3:] == [True] * 5
    assert isinstance(results[2], psycopg.DataError)
    with sessions() as session:
        stored = set(session.scalars(select(Case.id)).all())
    assert stored == {one.case_id for one in good}


@pytest.mark.parametrize("repeat", [1, 3])
def test_the_same_external_id_twice_in_one_commit_makes_one_case(settings, sessions, repeat):
    same = [NewCase(case_id=uuid.uuid4(), tenant="t", external_id="dup", content={"text": "x", "author_id": "u"},
                    metadata={}, actor="upstream") for _ in range(1 + repeat)]
    assert sorted(posted_together(settings, same)) == [False] * repeat + [True]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_decisions_taken_at_once_are_each_committed_with_their_records(settings, sessions, case_in):
    cases = [case_in("awaiting_review") for _ in range(6)]
    results = decided_together(settings, [(case_id, "mod-ana", None) for case_id in cases])
    assert [(str(moved.case_id), moved.status) for moved in results] == [(case_id, Status.EXECUTING) for case_id in cases]
    with sessions() as session:
        assert {str(c.id): c.status for c in session.scalars(select(Case))} == dict.fromkeys(cases, Status.EXECUTING)
        for model in (DecisionRecord, OutboxMessage):
            assert session.scalar(select(func.count()).select_from(model)) == 6
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "decision_made")) == 6


def test_a_decision_the_database_refuses_fails_alone(settings, sessions, case_in):
    cases = [case_in("awaiting_review") for _ in range(4)]
    notes = ["fine", "fine", "NUL \x00 is not storable", "fine"]
    results = decided_together(settings, [(case_id, "mod-ana", note) for case_id, note in zip(cases, notes)])
    assert isinstance(results[2], psycopg.DataError)
    assert all(moved.status == Status.EXECUTING for n, moved in enumerate(results) if n != 2)
    with sessions() as session:
        assert session.get(Case, cases[2]).status == Status.AWAITING_REVIEW
        assert {str(d.case_id) for d in session.scalars(select(DecisionRecord))} == set(cases) - {cases[2]}


def test_two_decisions_of_one_case_in_one_commit_move_it_once(settings, sessions, case_in):
    case_id = case_in("awaiting_review")
    results = decided_together(settings, [(case_id, "mod-ana", "first"), (case_id, "mod-ben", "second")])
    assert sorted(result is None for result in results) == [False, True]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DecisionRecord)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_one_statement_moves_only_cases_of_one_shape_each_once():
    one, other = uuid.uuid4(), uuid.uuid4()
    assert "jsonb_to_recordset" in moves_statement([removal(one, "mod-ana"), removal(other, "mod-ben")]).sql
    with pytest.raises(ValueError, match="once"):
        moves_statement([removal(one, "mod-ana"), removal(one, "mod-ben")])
    with pytest.raises(ValueError, match="differ only"):  # another event: not the same move
        moves_statement([removal(one, "mod-ana"), removal(other, "mod-ben", event="something_else")])
