"""A case all the way through the real processes: api → outbox → relay → RabbitMQ → worker →
platform, checking the case, the platform and the audit trail after every step."""

import uuid

from tests.support.processes import wait_until

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"


def wait_for(client, case_id: str, status: str, *, round: int = 1) -> dict:
    found: dict = {}

    def reached() -> bool:
        found.update(client.get(f"/v1/cases/{case_id}").json())
        return found["status"] == status and found["review_round"] == round

    wait_until(reached, timeout=60, interval=0.2, what=f"case {case_id} to be {status} in round {round}")
    return found


def test_post_review_appeal_rollback_second_review(api, fresh_platform):
    upstream, moderator, supervisor, second_supervisor = api("upstream"), api("mod-ana"), api("sup-cy"), api("sup-dee")
    external_id = f"post-{uuid.uuid4().hex[:8]}"

    posted = upstream.post("/v1/cases", json={"external_id": external_id, "content": {"text": ABUSIVE, "author_id": "troll"}})
    assert posted.status_code == 202 and posted.json()["status"] == "received"
    case_id = posted.json()["case_id"]

    case = wait_for(moderator, case_id, "awaiting_review")
    assert case["analysis"]["category"] == "abuse"
    assert case["review"]["allowed_decisions"][:4] == ["dismiss", "warn", "remove", "remove_and_ban"]

    assert moderator.post(f"/v1/cases/{case_id}/resume", json={"decision": "remove_and_ban", "note": "threats"}).status_code == 202
    case = wait_for(moderator, case_id, "closed")
    assert {(action["kind"], action["status"]) for action in case["actions"]} == {("remove", "confirmed"), ("ban", "confirmed")}
    assert fresh_platform.get(f"/content/{external_id}").json()["visible"] is False
    assert fresh_platform.get("/users/troll").json()["banned"] is True

    assert supervisor.post(f"/v1/cases/{case_id}/rollback", json={"reason": "it was a quote"}).status_code == 202
    case = wait_for(supervisor, case_id, "awaiting_review", round=2)
    assert fresh_platform.get(f"/content/{external_id}").json()["visible"] is True
    assert fresh_platform.get("/users/troll").json()["banned"] is False

    assert second_supervisor.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}).status_code == 202
    case = wait_for(second_supervisor, case_id, "closed", round=2)
    assert fresh_platform.get("/users/troll").json() == {"id": "troll", "banned": False, "warnings": 1}
    assert [decision["decided_by"] for decision in case["decisions"]] == ["mod-ana", "sup-dee"]
    assert [appeal["filed_by"] for appeal in case["appeals"]] == ["sup-cy"]

    trail = moderator.get(f"/v1/cases/{case_id}/events").json()
    assert [(event["event"], event["actor"]) for event in trail] == [
        ("case_received", "upstream"),
        ("analysis_started", "system:worker"),
        ("analysis_completed", "system:worker"),
        ("awaiting_review", "system:worker"),
        ("decision_made", "mod-ana"),
        ("action_executed", "system:worker"),
        ("action_executed", "system:worker"),
        ("closed", "system:worker"),
        ("appeal_filed", "sup-cy"),
        ("action_reversed", "system:worker"),
        ("action_reversed", "system:worker"),
        ("awaiting_review", "system:worker"),
        ("decision_made", "sup-dee"),
        ("action_executed", "system:worker"),
        ("closed", "system:worker"),
    ]
    calls = fresh_platform.get("/calls").json()
    assert [call["action"] for call in calls] == ["remove", "ban", "unban", "restore", "warn"]


def test_clean_content_is_closed_without_a_person(api, fresh_platform):
    upstream = api("upstream")
    posted = upstream.post("/v1/cases", json={"external_id": f"post-{uuid.uuid4().hex[:8]}",
                                              "content": {"text": "Our bake sale raised 200 euros for the library.", "author_id": "u-9"}})
    case = wait_for(upstream, posted.json()["case_id"], "auto_closed")
    assert case["actions"] == [] and fresh_platform.get("/calls").json() == []
