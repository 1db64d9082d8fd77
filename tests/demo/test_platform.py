"""The demo platform, as a real process over HTTP: the state it keeps, idempotency, faults."""

import time

import pytest

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
    assert refused.status_code == 409


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
