"""Resume, rollback and retry: who may, in which state, and what each records."""

import asyncio
import concurrent.futures

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy import select

from services.api.service import retry_case
from shared.errors import NotFound
from shared.models import Appeal, AuditEvent, Case, DecisionRecord, OutboxMessage


def test_a_moderator_decides_the_first_round(client, case_in, sessions):
    case_id = case_in("awaiting_review")
    answer = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "remove"}, headers=client.as_("mod-ana"))
    assert answer.status_code == 202 and answer.json()["status"] == "executing"
    with sessions() as session:
        assert session.scalars(select(DecisionRecord.decided_by)).all() == ["mod-ana"]
        assert session.scalars(select(OutboxMessage.kind)).all() == ["resume"]


def test_reanalyze_needs_a_note_and_sends_the_case_back_to_analysis(client, case_in, rows):
    case_id = case_in("awaiting_review")
    before = rows()
    refused = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "reanalyze"}, headers=client.as_("mod-ana"))
    assert refused.status_code == 422 and "note" in refused.json()["message"]
    assert rows() == before
    answer = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "reanalyze", "note": "it is satire"},
                         headers=client.as_("mod-ana"))
    assert answer.json()["status"] == "analyzing"


def test_reanalyze_is_refused_once_its_limit_is_used(client, case_in):
    case_id = case_in("awaiting_review", attempt=2)
    answer = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "reanalyze", "note": "again"},
                         headers=client.as_("mod-ana"))
    assert answer.status_code == 422 and "not allowed" in answer.json()["message"]


def test_an_appeal_is_decided_by_a_supervisor_who_did_not_make_the_appealed_decision(client, case_in):
    case_id = case_in("awaiting_review", round=2, decided_by="sup-cy")
    answers = {person: client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}, headers=client.as_(person))
               for person in ("mod-ana", "sup-cy", "sup-dee")}
    assert {person: answer.status_code for person, answer in answers.items()} == {"mod-ana": 403, "sup-cy": 403, "sup-dee": 202}
    assert "was yours" in answers["sup-cy"].json()["message"]


@pytest.mark.parametrize("status", ["received", "analyzing", "executing", "closed", "rolling_back", "failed", "auto_closed"])
def test_resume_outside_review_is_a_conflict_and_writes_nothing(client, case_in, rows, status):
    case_id = case_in(status)
    before = rows()
    answer = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}, headers=client.as_("mod-ana"))
    assert answer.status_code == 409 and answer.json()["error"] == "conflict"
    assert rows() == before


def test_rollback_only_of_a_closed_case(client, case_in, rows):
    open_case = case_in("awaiting_review")
    before = rows()
    assert client.post(f"/v1/cases/{open_case}/rollback", json={"reason": "x"}, headers=client.as_("sup-cy")).status_code == 409
    assert rows() == before
    closed = case_in("closed")
    answer = client.post(f"/v1/cases/{closed}/rollback", json={"reason": "wrong user"}, headers=client.as_("sup-cy"))
    assert answer.status_code == 202 and answer.json()["status"] == "rolling_back"


def test_retry_puts_a_failed_case_back_where_it_failed(client, case_in, sessions):
    assert client.post(f"/v1/cases/{case_in('closed')}/retry", headers=client.as_("admin")).status_code == 409
    case_id = case_in("failed", error={"step": "execute", "message": "503", "status": "executing"})
    failed = client.get("/v1/cases", params={"status": "failed"}, headers=client.as_("admin")).json()["items"]
    assert [item["case_id"] for item in failed] == [case_id]
    answer = client.post(f"/v1/cases/{case_id}/retry", headers=client.as_("admin"))
    assert answer.status_code == 202 and answer.json()["status"] == "executing"
    with sessions() as session:
        assert session.get(Case, case_id).error is None


@pytest.mark.parametrize(("recorded", "back_to"), [("bogus", "received"), (["x"], "received"), ("failed", "received"),
                                                  (None, "received"), ("awaiting_review", "awaiting_review")])
def test_retry_of_a_failure_without_a_usable_status_starts_over(client, case_in, sessions, recorded, back_to):
    case_id = case_in("failed", error={"step": "analyze", "message": "boom", "status": recorded})
    answer = client.post(f"/v1/cases/{case_id}/retry", headers=client.as_("admin"))
    assert answer.status_code == 202 and answer.json()["status"] == back_to
    trail = client.get(f"/v1/cases/{case_id}/events", headers=client.as_("admin")).json()
    assert [(e["event"], e["actor"], e["to_status"]) for e in trail] == [("retry_requested", "admin", back_to)]


def test_retry_into_review_keeps_the_review_payload_the_case_failed_with(client, case_in, sessions):
    case_id = case_in("failed", error={"step": "resume", "message": "gave up", "status": "awaiting_review"})
    with sessions.begin() as session:  # arranging: the worker fails a case without clearing its review
        session.get(Case, case_id).review = {"round": 1, "allowed_decisions": ["warn"], "decision_schema": {}}
    assert client.post(f"/v1/cases/{case_id}/retry", headers=client.as_("admin")).status_code == 202
    assert client.get(f"/v1/cases/{case_id}", headers=client.as_("mod-ana")).json()["review"]["allowed_decisions"] == ["warn"]


def test_the_command_line_retry_reports_an_unknown_or_mistyped_case(settings):
    async def retry() -> None:
        async with await psycopg.AsyncConnection.connect(settings.libpq_url, row_factory=dict_row) as conn:
            await retry_case(conn, case_id="not-a-case", actor="cli:operator")

    with pytest.raises(NotFound, match="UUID"):
        asyncio.run(retry())


def test_rollback_records_the_appeal_and_its_outbox_row(client, case_in, sessions):
    case_id = case_in("closed")
    client.post(f"/v1/cases/{case_id}/rollback", json={"reason": "wrong person"}, headers=client.as_("sup-dee"))
    with sessions() as session:
        assert [(a.round, a.filed_by, a.reason) for a in session.scalars(select(Appeal))] == [(1, "sup-dee", "wrong person")]
        assert session.scalars(select(OutboxMessage.kind)).all() == ["rollback"]
        assert session.scalars(select(AuditEvent.event)).all() == ["appeal_filed"]


def test_a_second_round_decision_records_its_round_and_attempt(client, case_in, sessions):
    case_id = case_in("awaiting_review", round=2, attempt=1, decided_by="sup-cy")
    assert client.post(f"/v1/cases/{case_id}/resume", json={"decision": "dismiss"}, headers=client.as_("sup-dee")).status_code == 202
    with sessions() as session:
        latest = session.scalars(select(DecisionRecord).order_by(DecisionRecord.created_at.desc())).first()
        assert (latest.round, latest.attempt, latest.decided_by) == (2, 1, "sup-dee")
        assert session.get(Case, case_id).review is None


@pytest.mark.parametrize("command", ["resume", "rollback"])
def test_concurrent_commands_on_one_case_give_exactly_one_202(client, case_in, sessions, command):
    case_id = case_in("awaiting_review" if command == "resume" else "closed")
    who, body = ("mod-ana", {"decision": "warn"}) if command == "resume" else ("sup-cy", {"reason": "appeal"})

    def send(_: int) -> int:
        return client.post(f"/v1/cases/{case_id}/{command}", json=body, headers=client.as_(who)).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = sorted(pool.map(send, range(20)))
    assert answers == [202] + [409] * 19
    record = DecisionRecord if command == "resume" else Appeal
    with sessions() as session:
        assert len(session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)).all()) == 1
        assert len(session.scalars(select(record).where(record.case_id == case_id)).all()) == 1
        assert len(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)).all()) == 1
