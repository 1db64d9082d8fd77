"""The demo platform, as a real process over HTTP: the state it keeps, idempotency, faults."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest

from services.worker.platform import PlatformCall, PlatformClient, path_segment
from shared import signing
from shared.domain import ActionKind

KEY = {"Idempotency-Key": "k-1"}


@pytest.mark.parametrize(("action", "path", "state"), [
    ("remove", "/content/c1", {"id": "c1", "visible": False}),
    ("ban", "/users/u1", {"id": "u1", "banned": True, "warnings": 0}),
    ("warn", "/users/u1", {"id": "u1", "banned": False, "warnings": 1}),
])
def test_an_action_changes_the_state(fresh_platform, action, path, state):
    assert fresh_platform.post(f"{path}/{action}", headers=KEY).json() == state
    assert fresh_platform.get(path).json() == state


def test_reversals_undo_and_unknown_things_have_defaults(fresh_platform):
    assert fresh_platform.get("/content/never-seen").json() == {"id": "never-seen", "visible": True}
    assert fresh_platform.get("/users/nobody").json() == {"id": "nobody", "banned": False, "warnings": 0}
    for n, (path, action) in enumerate([("/content/c1", "remove"), ("/content/c1", "restore"), ("/users/u1", "ban"),
                                        ("/users/u1", "unban"), ("/users/u1", "warn"), ("/users/u1", "retract_warning")]):
        fresh_platform.post(f"{path}/{action}", headers={"Idempotency-Key": f"k{n}"}).raise_for_status()
    assert fresh_platform.get("/content/c1").json()["visible"] is True
    assert fresh_platform.get("/users/u1").json() == {"id": "u1", "banned": False, "warnings": 0}
    refused = fresh_platform.post("/users/u1/retract_warning", headers={"Idempotency-Key": "k9"})
    assert refused.status_code == 422


def test_the_same_key_replays_the_answer_without_a_second_effect(fresh_platform):
    first = fresh_platform.post("/users/u1/warn", headers=KEY)
    again = fresh_platform.post("/users/u1/warn", headers=KEY)
    assert first.json() == again.json() == {"id": "u1", "banned": False, "warnings": 1}
    assert [call["replayed"] for call in fresh_platform.get("/calls").json()] == [False, True]
    assert fresh_platform.get("/_admin/effects").json() == {"users/u1": {"warn": 1}}


def test_a_key_is_required_and_bound_to_one_operation(fresh_platform):
    assert fresh_platform.post("/users/u1/warn").status_code == 400
    fresh_platform.post("/users/u1/warn", headers=KEY)
    assert fresh_platform.post("/users/u2/warn", headers=KEY).status_code == 422


def test_faults_by_count_and_by_time_refuse_without_effect(fresh_platform):
    fresh_platform.post("/_admin/faults", json={"status": 503, "count": 2}).raise_for_status()
    codes = [fresh_platform.post("/users/u1/warn", headers={"Idempotency-Key": f"f{n}"}).status_code for n in range(3)]
    assert codes == [503, 503, 200]
    fresh_platform.post("/_admin/faults", json={"status": 503, "seconds": 0.5}).raise_for_status()
    assert fresh_platform.post("/users/u1/warn", headers={"Idempotency-Key": "t1"}).status_code == 503
    assert fresh_platform.get("/users/u1").status_code == 200  # reads never fail
    time.sleep(0.6)
    assert fresh_platform.post("/users/u1/warn", headers={"Idempotency-Key": "t2"}).status_code == 200
    assert fresh_platform.get("/users/u1").json()["warnings"] == 2
    assert [call["status"] for call in fresh_platform.get("/calls").json()] == [503, 503, 200, 503, 200]


def test_a_refusal_is_replayed_too(fresh_platform):
    assert fresh_platform.post("/users/u1/retract_warning", headers=KEY).status_code == 422
    fresh_platform.post("/users/u1/warn", headers={"Idempotency-Key": "k-2"}).raise_for_status()
    again = fresh_platform.post("/users/u1/retract_warning", headers=KEY)
    assert again.status_code == 422 and fresh_platform.get("/users/u1").json()["warnings"] == 1


def test_concurrent_calls_with_one_key_have_one_effect(fresh_platform):
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: fresh_platform.post("/users/u1/warn", headers=KEY), range(16)))
    assert {answer.json()["warnings"] for answer in answers} == {1}
    assert fresh_platform.get("/_admin/effects").json() == {"users/u1": {"warn": 1}}
    assert sorted(call["replayed"] for call in fresh_platform.get("/calls").json()) == [False] + [True] * 15


def test_the_call_log_records_every_action_call_and_its_answer(fresh_platform):
    fresh_platform.post("/content/c1/remove", headers=KEY)
    fresh_platform.post("/content/c1/remove", headers=KEY)
    fresh_platform.post("/users/u1/ban")
    fresh_platform.get("/content/c1")
    first, replay, keyless = fresh_platform.get("/calls").json()
    assert first | {"at": None} == {"at": None, "method": "POST", "path": "/content/c1/remove", "action": "remove",
                                    "target_id": "c1", "idempotency_key": "k-1", "status": 200, "replayed": False,
                                    "signed": True, "body": None}
    assert datetime.fromisoformat(first["at"]) <= datetime.fromisoformat(replay["at"])
    assert replay["replayed"] is True
    assert (keyless["action"], keyless["idempotency_key"], keyless["status"]) == ("ban", None, 400)


def test_once_it_has_a_secret_an_unsigned_or_badly_signed_call_is_refused(settings, fresh_platform):
    body = b'{"tenant": "t"}'
    unsigned = httpx.post(f"{settings.platform_url}/content/c1/remove", content=body, headers=KEY)
    forged = httpx.post(f"{settings.platform_url}/content/c1/remove", content=body,
                        headers=KEY | signing.sign(secret="not-the-platform-secret", body=body))
    altered = signing.sign(secret=settings.platform_secret.get_secret_value(), body=b'{"tenant": "other"}')
    tampered = httpx.post(f"{settings.platform_url}/content/c1/remove", content=body, headers=KEY | altered)
    assert [answer.status_code for answer in (unsigned, forged, tampered)] == [401, 401, 401]
    assert fresh_platform.get("/content/c1").json()["visible"] is True and fresh_platform.get("/_admin/effects").json() == {}


def test_a_missing_key_is_explained(fresh_platform):
    refused = fresh_platform.post("/content/c1/remove")
    assert refused.status_code == 400 and "Idempotency-Key" in refused.json()["message"]
    assert fresh_platform.get("/content/c1").json()["visible"] is True


def test_a_fault_holds_until_cleared_and_spares_reads_and_admin(fresh_platform):
    fresh_platform.post("/_admin/faults", json={"status": 500}).raise_for_status()
    assert [fresh_platform.post("/content/c1/remove", headers={"Idempotency-Key": f"k{n}"}).status_code
            for n in range(3)] == [500, 500, 500]
    assert fresh_platform.get("/calls").status_code == fresh_platform.get("/_admin/effects").status_code == 200
    assert fresh_platform.get("/_admin/effects").json() == {}
    fresh_platform.post("/_admin/faults", json={"status": 0}).raise_for_status()
    assert fresh_platform.post("/content/c1/remove", headers=KEY).json() == {"id": "c1", "visible": False}


@pytest.mark.parametrize("fault", [{"status": 42}, {"status": 503, "count": 0}, {"status": 503, "count": 1, "seconds": 1},
                                   {"count": 2}])
def test_a_fault_that_makes_no_sense_is_refused(fresh_platform, fault):
    assert fresh_platform.post("/_admin/faults", json=fault).status_code == 422


def test_the_action_comes_from_the_path_only(fresh_platform):
    fresh_platform.post("/users/u1/warn?_a=ban&action=ban&kind=content", headers=KEY).raise_for_status()
    assert fresh_platform.get("/users/u1").json() == {"id": "u1", "banned": False, "warnings": 1}


def test_reset_forgets_state_keys_log_and_faults(fresh_platform):
    fresh_platform.post("/users/u1/ban", headers=KEY).raise_for_status()
    fresh_platform.post("/_admin/faults", json={"status": 503, "count": 5}).raise_for_status()
    fresh_platform.post("/_admin/reset").raise_for_status()
    assert fresh_platform.get("/users/u1").json() == {"id": "u1", "banned": False, "warnings": 0}
    assert fresh_platform.get("/calls").json() == [] and fresh_platform.get("/_admin/effects").json() == {}
    again = fresh_platform.post("/users/u1/ban", headers=KEY)  # the key is new again, and no fault is left
    assert again.status_code == 200 and fresh_platform.get("/calls").json()[0]["replayed"] is False


HOSTILE_IDS = ["..", ".", "a/b", "../users/victim", "%", "%2F", "?x=1", "#top", "a b", "ü", "..."]


@pytest.mark.parametrize("target_id", HOSTILE_IDS)
def test_the_worker_reaches_the_path_of_any_id_and_the_platform_records_it_decoded_once(settings, fresh_platform, target_id):
    client = PlatformClient(base_url=settings.platform_url, timeout=5, retries=1, retry_wait=0.01,
                            secret=settings.platform_secret.get_secret_value())
    try:
        for kind, key in [(ActionKind.BAN, "b"), (ActionKind.REMOVE, "r")]:
            call = PlatformCall(tenant="t", case_id="c", round=1, decision="remove_and_ban", action=kind,
                                target_id=target_id, idempotency_key=key)
            assert client.perform(call)["body"]["id"] == target_id
    finally:
        client.close()
    ban, remove = fresh_platform.get("/calls").json()
    assert (ban["path"], ban["target_id"], ban["status"]) == (f"/users/{target_id}/ban", target_id, 200)
    assert (remove["path"], remove["target_id"], remove["status"]) == (f"/content/{target_id}/remove", target_id, 200)
    assert fresh_platform.get("/_admin/effects").json() == {f"users/{target_id}": {"ban": 1},
                                                              f"content/{target_id}": {"remove": 1}}
    assert fresh_platform.get(f"/users/{path_segment(target_id)}").json()["banned"] is True


def test_an_unencoded_slash_in_an_id_reaches_no_action(fresh_platform):
    refused = fresh_platform.post("/users/a/b/ban", headers=KEY)
    assert refused.status_code == 404 and "percent-encode" in refused.json()["message"]
    assert fresh_platform.get("/_admin/effects").json() == {}
    assert fresh_platform.get("/users/a/b").status_code == 404
