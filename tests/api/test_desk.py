"""The review desk over HTTP: claims, the next case, priority order, what the caller may do."""

import concurrent.futures
from datetime import datetime

import pytest
from sqlalchemy import select, text, update

from shared.db import transaction
from shared.domain import Role
from shared.keys import create_key
from shared.models import AuditEvent, Case
from tests.support.desk import case_in_review


@pytest.fixture
def moderators(sessions) -> list[dict[str, str]]:
    with transaction(sessions) as session:
        return [{"X-API-Key": create_key(session, role=Role.MODERATOR, name=f"mod-{n}")} for n in range(8)]


def test_a_claim_is_a_lease_that_only_its_holder_renews_or_releases(client, sessions):
    case_id = case_in_review(sessions)
    ana, ben = client.as_("mod-ana"), client.as_("mod-ben")
    first = client.post(f"/v1/cases/{case_id}/claim", headers=ana)
    assert first.status_code == 200 and first.json()["claimed_by"] == "mod-ana"
    taken = client.post(f"/v1/cases/{case_id}/claim", headers=ben)
    assert taken.status_code == 409 and "mod-ana holds this case" in taken.json()["message"]
    renewed = client.post(f"/v1/cases/{case_id}/claim", headers=ana)
    assert renewed.status_code == 200
    assert datetime.fromisoformat(renewed.json()["expires_at"]) >= datetime.fromisoformat(first.json()["expires_at"])
    assert client.delete(f"/v1/cases/{case_id}/claim", headers=ben).status_code == 409
    assert client.delete(f"/v1/cases/{case_id}/claim", headers=ana).status_code == 204
    assert client.post(f"/v1/cases/{case_id}/claim", headers=ben).status_code == 200
    with sessions() as session:
        events = session.scalars(select(AuditEvent.event).where(AuditEvent.case_id == case_id)
                                 .order_by(AuditEvent.id)).all()
    assert events[-4:] == ["case_claimed", "case_claimed", "claim_released", "case_claimed"]


def test_a_decision_on_a_case_claimed_by_someone_else_is_409_and_the_holders_goes_through(client, sessions, rows):
    case_id = case_in_review(sessions)
    client.post(f"/v1/cases/{case_id}/claim", headers=client.as_("mod-ana"))
    before = rows()
    other = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}, headers=client.as_("mod-ben"))
    assert other.status_code == 409 and "mod-ana has claimed" in other.json()["message"]
    assert rows() == before
    mine = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}, headers=client.as_("mod-ana"))
    assert mine.status_code == 202
    assert client.get(f"/v1/cases/{case_id}", headers=client.as_("mod-ana")).json()["claim"] is None


def test_an_expired_claim_is_free_again(client, sessions):
    case_id = case_in_review(sessions)
    client.post(f"/v1/cases/{case_id}/claim", headers=client.as_("mod-ana"))
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(claim_expires_at=text("now() - interval '1 s'")))
    case = client.get(f"/v1/cases/{case_id}", headers=client.as_("mod-ben")).json()
    assert case["claim"] is None and case["may_decide"] and case["may_claim"]
    assert client.post(f"/v1/cases/{case_id}/claim", headers=client.as_("mod-ben")).status_code == 200


def test_concurrent_reviewers_taking_next_never_get_the_same_case(client, sessions, moderators):
    cases = {case_in_review(sessions) for _ in range(5)}

    def take(headers):
        answer = client.post("/v1/queue/next", headers=headers)
        return answer.status_code, answer.json()["case_id"] if answer.status_code == 200 else None

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(take, moderators))
    taken = [case_id for code, case_id in answers if code == 200]
    assert sorted(code for code, _ in answers) == [200] * 5 + [204] * 3
    assert len(set(taken)) == 5 and set(taken) == cases


def test_next_takes_the_most_urgent_then_the_oldest(client, sessions, moderators):
    low, critical, medium_old, medium_new = (case_in_review(sessions, severity=s)
                                             for s in ("low", "critical", "medium", "medium"))
    order = [client.post("/v1/queue/next", headers=moderator).json()["case_id"] for moderator in moderators[:4]]
    assert order == [critical, medium_old, medium_new, low]
    assert client.post("/v1/queue/next", headers=moderators[4]).status_code == 204


def test_the_review_queue_pages_by_priority_with_a_stable_cursor(client, sessions):
    made = [case_in_review(sessions, severity=s) for s in ["low", "high", "medium"] * 4]
    seen, cursor = [], None
    while True:
        page = client.get("/v1/cases", params={"status": "awaiting_review", "limit": 5} | (
            {"cursor": cursor} if cursor else {}), headers=client.as_("mod-ana")).json()
        seen += page["items"]
        if not (cursor := page["next"]):
            break
    assert sorted(item["case_id"] for item in seen) == sorted(made)
    assert [item["priority"] for item in seen] == sorted((item["priority"] for item in seen), reverse=True)
    assert all(item["due_at"] for item in seen)


def test_round_two_is_neither_offered_to_moderators_nor_to_the_supervisor_who_appealed(client, case_in):
    case_id = case_in("awaiting_review", round=2, decided_by="mod-ana")  # sup-cy filed the appeal
    assert client.post("/v1/queue/next", headers=client.as_("mod-ben")).status_code == 204
    assert client.post("/v1/queue/next", headers=client.as_("sup-cy")).status_code == 204
    case = client.get(f"/v1/cases/{case_id}", headers=client.as_("mod-ben")).json()
    assert not case["may_decide"] and not case["may_claim"]
    assert client.post(f"/v1/cases/{case_id}/claim", headers=client.as_("mod-ben")).status_code == 403
    taken = client.post("/v1/queue/next", headers=client.as_("sup-dee"))
    assert taken.status_code == 200 and taken.json()["case_id"] == case_id and taken.json()["may_decide"]


def test_the_case_says_what_each_caller_may_do(client, case_in):
    closed, failed = case_in("closed"), case_in("failed", error={"status": "executing"})
    assert client.get(f"/v1/cases/{closed}", headers=client.as_("sup-cy")).json()["may_appeal"] is True
    assert client.get(f"/v1/cases/{closed}", headers=client.as_("mod-ana")).json()["may_appeal"] is False
    assert client.get(f"/v1/cases/{failed}", headers=client.as_("admin")).json()["may_retry"] is True
    assert client.get(f"/v1/cases/{failed}", headers=client.as_("sup-cy")).json()["may_retry"] is False


def test_next_moves_on_and_releases_what_the_reviewer_held(client, sessions):
    first_id, second_id = case_in_review(sessions, severity="high"), case_in_review(sessions, severity="low")
    first = client.post("/v1/queue/next", headers=client.as_("mod-ana")).json()
    second = client.post("/v1/queue/next", headers=client.as_("mod-ana")).json()
    assert (first["case_id"], second["case_id"]) == (first_id, second_id)
    assert client.get(f"/v1/cases/{first_id}", headers=client.as_("mod-ben")).json()["claim"] is None
    assert client.post(f"/v1/cases/{first_id}/claim", headers=client.as_("mod-ben")).status_code == 200
