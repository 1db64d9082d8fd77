"""Complaints (DSA Art. 20): the platform forwards one by the affected user or the notifier, it
becomes an appeal of the case with its source, a reviewer who did not decide the case reviews it
again, and the outcome is an event the platform hears; the transparency report counts them."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from shared.db import transaction
from shared.domain import CommandKind, Role
from shared.keys import create_key
from tests.statements.arrange import ABUSIVE, receive, run
from tests.support.arrange import decide

COMPLAINT = {"complainant": "affected_user", "basis": "not_against_terms", "reference": "cmp-4711",
             "text": "It was a quote from a film, not an insult."}


def removed_case(runner, sessions):
    case_id, start = receive(sessions, text=ABUSIVE, metadata={"source": "notice"})
    run(runner, case_id, start, CommandKind.START)
    run(runner, case_id, decide(sessions, case_id, "remove", by="mod-ana"), CommandKind.RESUME)
    return case_id


def latest_message(engine, case_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM outbox WHERE case_id = :c ORDER BY seq DESC LIMIT 1"),
                            {"c": case_id}).scalar()


def events_of(engine, case_id, type: str) -> list[dict]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT data FROM case_events WHERE case_id = :c AND type = :t ORDER BY seq"),
                                 {"c": case_id, "t": type}).scalars())


def test_a_forwarded_complaint_is_reviewed_again_by_someone_new_to_the_case_and_its_outcome_is_heard(
        client, runner, sessions, engine):
    case_id = removed_case(runner, sessions)
    upstream = client.as_("upstream")
    filed = client.post(f"/v1/cases/{case_id}/complaints", headers=upstream, json=COMPLAINT)
    assert filed.status_code == 202 and filed.json()["status"] == "rolling_back", filed.text
    again = client.post(f"/v1/cases/{case_id}/complaints", headers=upstream, json=COMPLAINT)
    assert again.status_code == 200  # the platform sent it again: filed once
    [appeal] = client.get(f"/v1/cases/{case_id}", headers=client.as_("admin")).json()["appeals"]
    assert (appeal["source"], appeal["basis"], appeal["reference"], appeal["filed_by"]) == (
        "affected_user", "not_against_terms", "cmp-4711", "upstream")
    run(runner, case_id, latest_message(engine, case_id), CommandKind.ROLLBACK)

    # mod-ana decided the case: not hers to review again; mod-ben, new to it, may (a moderator, not
    # only a supervisor: a complaint is reviewed by someone who did not decide the case).
    refused = client.post(f"/v1/cases/{case_id}/resume", headers=client.as_("mod-ana"), json={"decision": "dismiss"})
    assert refused.status_code == 403 and "decided this case before" in refused.json()["message"]
    assert client.post("/v1/queue/next", headers=client.as_("mod-ana")).status_code == 204  # nothing for her
    assert client.post("/v1/queue/next", headers=client.as_("mod-ben")).json()["case_id"] == str(case_id)
    decided = client.post(f"/v1/cases/{case_id}/resume", headers=client.as_("mod-ben"), json={"decision": "dismiss"})
    assert decided.status_code == 202, decided.text
    run(runner, case_id, latest_message(engine, case_id), CommandKind.RESUME)

    [outcome] = events_of(engine, case_id, "complaint.decided")
    assert outcome == {"reference": "cmp-4711", "complainant": "affected_user", "basis": "not_against_terms",
                       "round": 2, "appealed_decision": "remove", "decision": "dismiss", "outcome": "reversed"}
    assert COMPLAINT["text"] not in str(outcome)  # the platform has the person's words; the event names the outcome
    assert len(events_of(engine, case_id, "statement.reversed")) == 1

    today = datetime.now(UTC).date().isoformat()
    figures = client.get(f"/v1/reports/transparency?from={today}&to={today}", headers=client.as_("admin")).json()
    complaints = figures["complaints"]
    assert {key: complaints[key] for key in ("received", "by_complainant", "by_basis", "decided", "by_outcome")} == {
        "received": 1, "by_complainant": {"affected_user": 1}, "by_basis": {"not_against_terms": 1}, "decided": 1,
        "by_outcome": {"made_stricter": 0, "reversed": 1, "upheld": 0}}
    assert complaints["median_seconds_to_decide"] > 0
    assert figures["notices"]["by_source_type"] == {"SOURCE_ARTICLE_16": 1}
    assert figures["first_decisions_by_initiative"] == {"notice": 1, "own_initiative": 0}
    assert figures["restrictions"] == [{"restriction": "DECISION_VISIBILITY_CONTENT_REMOVED",
                                        "category": "STATEMENT_CATEGORY_CYBER_VIOLENCE", "count": 1}]


def test_only_the_cases_own_platform_forwards_a_complaint_while_the_window_is_open(client, runner, sessions, engine):
    case_id = removed_case(runner, sessions)
    with transaction(sessions) as session:
        other = create_key(session, role=Role.UPSTREAM, name="other-platform")
    assert client.post(f"/v1/cases/{case_id}/complaints", headers={"X-API-Key": other}, json=COMPLAINT).status_code == 404
    assert client.post(f"/v1/cases/{case_id}/complaints", headers=client.as_("mod-ana"),
                       json=COMPLAINT).status_code == 403
    with engine.begin() as conn:
        conn.execute(text("UPDATE cases SET appealable_until = now() - interval '1 day' WHERE id = :c"), {"c": case_id})
    late = client.post(f"/v1/cases/{case_id}/complaints", headers=client.as_("upstream"), json=COMPLAINT)
    assert late.status_code == 409 and "appeal window closed" in late.json()["message"]


@pytest.mark.parametrize(("change", "says"), [
    ({"complainant": "neighbour"}, "complainant"), ({"basis": "because"}, "basis"), ({"text": "   "}, "text"),
    ({"reference": "has space"}, "reference"), ({"colour": "red"}, "colour"),
])
def test_a_bad_complaint_is_a_422_that_files_nothing(client, runner, sessions, engine, change, says):
    case_id = removed_case(runner, sessions)
    answer = client.post(f"/v1/cases/{case_id}/complaints", headers=client.as_("upstream"), json=COMPLAINT | change)
    assert answer.status_code == 422 and says in answer.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appeals WHERE case_id = :c"), {"c": case_id}).scalar() == 0
