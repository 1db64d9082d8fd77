"""Callbacks through the real processes: a case's life reaches the platform's /callbacks signed,
in order (numbered per case), while the case goes on without waiting for them; a complaint the
platform forwards is reviewed again and its outcome comes back."""

import uuid

from tests.e2e.test_lifecycle import ABUSIVE, wait_for
from tests.support.processes import wait_until

SECRET = "the-platforms-callback-secret-42"


def test_the_platform_hears_a_cases_life_in_order(api, fresh_platform, settings):
    fresh_platform.post("/_admin/callback-secret", json={"secret": SECRET}).raise_for_status()
    hook = api("admin").post("/v1/webhooks", json={"url": f"{settings.platform_url}/callbacks",
                                                   "events": ["case.*", "action.*", "complaint.*"],
                                                   "secret": SECRET})
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
    assert [event["seq"] for event in events] == [1, 2, 3, 4, 5, 6]  # numbered per case, in order
    assert (events[5]["data"]["decision"], events[5]["data"]["statement_puid"]) == ("remove", f"upstream__{external_id}__r1")
    assert events[5]["data"]["actions"] == [{"kind": "remove", "target_id": external_id, "status": "confirmed"}]

    # The author complains through the platform; a moderator new to the case reviews it again.
    complaint = {"complainant": "affected_user", "basis": "not_illegal", "reference": "c-1", "text": "It was satire."}
    assert api("upstream").post(f"/v1/cases/{case_id}/complaints", json=complaint).status_code == 202
    wait_for(api("mod-ben"), case_id, "awaiting_review", round=2)
    assert api("mod-ana").post(f"/v1/cases/{case_id}/resume", json={"decision": "dismiss"}).status_code == 403
    assert api("mod-ben").post(f"/v1/cases/{case_id}/resume", json={"decision": "dismiss"}).status_code == 202
    wait_until(lambda: heard()[-1]["type"] == "complaint.decided", timeout=30, what="the complaint's outcome")
    outcome = heard()[-1]
    assert (outcome["data"]["reference"], outcome["data"]["outcome"]) == ("c-1", "reversed")
    seqs = [event["seq"] for event in heard()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
