"""Posting and reading cases."""

from sqlalchemy import select

from shared.models import AuditEvent, OutboxMessage

POST = {"external_id": "forum-1", "content": {"text": "hello there", "author_id": "u-1"}, "metadata": {"thread": 7}}


def test_a_posted_case_is_received_with_its_outbox_row_and_audit_event(client, sessions):
    answer = client.post("/v1/cases", json=POST, headers=client.as_("upstream"))

    assert answer.status_code == 202
    assert answer.json()["status"] == "received"
    case_id = answer.json()["case_id"]
    with sessions() as session:
        assert session.scalars(select(OutboxMessage.kind).where(OutboxMessage.case_id == case_id)).all() == ["start"]
        assert session.scalars(select(AuditEvent.actor).where(AuditEvent.case_id == case_id)).all() == ["upstream"]
    case = client.get(f"/v1/cases/{case_id}", headers=client.as_("mod-ana")).json()
    assert case["external_id"] == "forum-1" and case["metadata"] == {"thread": 7} and case["review"] is None


def test_the_same_external_id_again_returns_the_first_case_and_writes_nothing(client, rows):
    first = client.post("/v1/cases", json=POST, headers=client.as_("upstream"))
    before = rows()
    again = client.post("/v1/cases", json=POST | {"content": {"text": "other", "author_id": "u-2"}},
                        headers=client.as_("upstream"))
    assert again.status_code == 200
    assert again.json()["case_id"] == first.json()["case_id"]
    assert rows() == before


def test_listing_pages_through_cases_of_a_status(client):
    ids = [client.post("/v1/cases", json=POST | {"external_id": f"f-{n}"}, headers=client.as_("upstream")).json()["case_id"]
           for n in range(5)]
    seen, cursor = [], None
    while True:
        page = client.get("/v1/cases", params={"status": "received", "limit": 2} | ({"cursor": cursor} if cursor else {}),
                          headers=client.as_("sup-cy")).json()
        seen += [item["case_id"] for item in page["items"]]
        if not (cursor := page["next"]):
            break
    assert seen == ids
    assert client.get("/v1/cases", params={"status": "closed"}, headers=client.as_("sup-cy")).json() == {"items": [], "next": None}


def test_events_are_the_audit_trail_oldest_first(client, case_in):
    case_id = case_in("awaiting_review")
    client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn", "note": "rude"}, headers=client.as_("mod-ana"))
    trail = client.get(f"/v1/cases/{case_id}/events", headers=client.as_("upstream")).json()
    assert [(e["event"], e["actor"], e["from_status"], e["to_status"]) for e in trail] == [
        ("decision_made", "mod-ana", "awaiting_review", "executing")]
    assert trail[0]["data"]["note"] == "rude"


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_the_moderator_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "decision_schema" in page.text
