"""Callbacks through the real processes: a case's life reaches the platform's /callbacks signed,
in order, while the case goes on without waiting for them."""

import uuid

from tests.e2e.test_lifecycle import ABUSIVE, wait_for
from tests.support.processes import wait_until

SECRET = "the-platforms-callback-secret-42"


def test_the_platform_hears_a_cases_life_in_order(api, fresh_platform, settings):
    fresh_platform.post("/_admin/callback-secret", json={"secret": SECRET}).raise_for_status()
    hook = api("admin").post("/v1/webhooks", json={"url": f"{settings.platform_url}/callbacks",
                                                   "events": ["case.*", "action.*"], "secret": SECRET})
    assert hook.status_code == 201
    external_id = f"post-{uuid.uuid4().hex[:8]}"
    case_id = api("upstream").post("/v1/cases", json={
        "external_id": external_id, "content": {"text": ABUSIVE, "author_id": "troll"}}).json()["case_id"]
    wait_for(api("mod-ana"), case_id, "awaiting_review")
    assert api("mod-ana").post(f"/v1/cases/{case_id}/resume", json={"decision": "remove"}).status_code == 202
    wait_for(api("mod-ana"), case_id, "closed")

    def heard() -> list[dict]:
        return [kept["body"] for kept in fresh_platform.get("/callbacks", params={"case_id": case_id}).json()]

    wait_until(lambda: heard() and heard()[-1]["type"] == "case.closed", timeout=30, what="the closing callback")
    events = heard()  # one reading for every assertion
    assert [(event["type"], event["status"]) for event in events] == [
        ("case.received", "received"), ("case.analyzing", "analyzing"), ("case.awaiting_review", "awaiting_review"),
        ("case.executing", "executing"), ("action.executed", "executing"), ("case.closed", "closed")]
    assert {event["external_id"] for event in events} == {external_id}
    assert events[4]["data"]["action"] == "remove"
