"""Posting and reading cases."""

import concurrent.futures

from sqlalchemy import select

from shared.models import AuditEvent, Case, OutboxMessage

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
    again = client.post("/v1/cases", json=POST, headers=client.as_("upstream"))
    assert again.status_code == 200
    assert again.json()["case_id"] == first.json()["case_id"]
    assert rows() == before


def test_the_same_external_id_with_other_content_is_a_conflict_and_writes_nothing(client, rows):
    first = client.post("/v1/cases", json=POST, headers=client.as_("upstream"))
    before = rows()
    again = client.post("/v1/cases", json=POST | {"content": {"text": "other", "author_id": "u-2"}},
                        headers=client.as_("upstream"))
    assert again.status_code == 409
    assert "posted before with other content" in again.json()["message"]
    assert first.json()["case_id"] in again.json()["message"]
    assert rows() == before


def test_concurrent_posts_of_one_external_id_make_one_case(client, sessions):
    def post(_: int):
        answer = client.post("/v1/cases", json=POST, headers=client.as_("upstream"))
        return answer.status_code, answer.json()["case_id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    assert sorted(code for code, _ in answers) == [200] * 19 + [202]
    assert len({case_id for _, case_id in answers}) == 1
    with sessions() as session:
        assert len(session.scalars(select(Case)).all()) == 1
        assert len(session.scalars(select(OutboxMessage)).all()) == 1
        assert len(session.scalars(select(AuditEvent)).all()) == 1


def test_a_case_shows_its_review_only_while_awaiting_it(client, case_in):
    waiting = client.get(f"/v1/cases/{case_in('awaiting_review')}", headers=client.as_("mod-ana")).json()
    assert waiting["review"]["allowed_decisions"] and waiting["review"]["decision_schema"]["type"] == "object"
    closed = client.get(f"/v1/cases/{case_in('closed', round=2)}", headers=client.as_("upstream")).json()
    assert closed["review"] is None
    assert [(d["round"], d["decision"], d["decided_by"]) for d in closed["decisions"]] == [(1, "remove", "mod-ana")]
    assert [(a["round"], a["filed_by"]) for a in closed["appeals"]] == [(1, "sup-cy")]
    assert closed["actions"] == [] and closed["error"] is None
    assert set(closed) >= {"case_id", "external_id", "status", "review_round", "analysis", "content", "metadata",
                           "created_at", "updated_at"}


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


def test_the_moderator_page_is_served_without_a_key(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js"' in page.text
    assert "decision_schema" in client.get("/static/app.js").text  # the console's script, a static file


def test_me_says_whose_key_it_is(client):
    assert client.get("/v1/me", headers=client.as_("sup-dee")).json() == {"name": "sup-dee", "role": "supervisor"}


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/v1/cases/not-a-uuid", headers=client.as_("mod-ana"))
    metrics = client.get("/metrics").text
    assert 'vigil_http_requests_total{method="GET",route="/v1/cases/{case_id}",status="422"}' in metrics
