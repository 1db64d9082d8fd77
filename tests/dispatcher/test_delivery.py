"""Delivering the events outbox: signed bodies, order per case under concurrency and retries,
backoff, dead letters and replay, a slow subscriber beside a quick one, a crashed dispatcher."""

import uuid
from collections import defaultdict

from sqlalchemy import text

from shared import signing
from shared import backoff
from tests.dispatcher.conftest import SECRET, emit, new_case, subscribe
from tests.support.processes import Process, settings_env, wait_until


def deliveries(engine, hook_id) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(
            "SELECT * FROM webhook_deliveries WHERE webhook_id = :w ORDER BY event_seq"), {"w": hook_id})]


def test_each_event_reaches_the_subscriber_once_signed_with_the_documented_body(
        client, sessions, engine, dispatcher, subscriber):
    hook = subscriber()
    hook_id = subscribe(sessions, hook.url)
    created = client.post("/v1/cases", headers=client.as_("upstream"), json={
        "external_id": "post-77", "content": {"text": "hello there", "author_id": "u-1"}})
    case_id = created.json()["case_id"]
    emit(engine, uuid.UUID(case_id), count=2)
    dispatcher()

    wait_until(lambda: len(hook.answered()) == 3, timeout=20, what="three callbacks")
    first, *actions = hook.answered()
    assert set(first.body) == {"id", "seq", "type", "case_id", "external_id", "status", "occurred_at", "data"}
    assert [received.body["seq"] for received in hook.answered()] == [1, 2, 3]
    assert (first.body["type"], first.body["case_id"], first.body["external_id"], first.body["status"]) == (
        "case.received", case_id, "post-77", "received")
    assert [a.body["type"] for a in actions] == ["action.executed"] * 2
    assert [a.body["data"] for a in actions] == [{"n": 0}, {"n": 1}]
    for received in hook.received:
        assert received.headers["content-type"] == "application/json"
        assert received.headers["x-vigil-event-id"] == received.body["id"]
        signing.verify(secret=SECRET, body=received.raw, timestamp=received.headers["x-vigil-timestamp"],
                       signature_header=received.headers["x-vigil-signature"])
    rows = deliveries(engine, hook_id)
    assert [(r["status"], r["attempts"], r["last_status_code"]) for r in rows] == [("delivered", 1, 200)] * 3

    # A subscriber that missed some asks for the case's events from a number on: the same events.
    page = client.get(f"/v1/cases/{case_id}/feed?from_seq=2&limit=1", headers=client.as_("upstream")).json()
    rest = client.get(f"/v1/cases/{case_id}/feed?from_seq={page['next']}", headers=client.as_("upstream")).json()
    assert page["next"] == 3 and rest["next"] is None
    fed = page["items"] + rest["items"]
    assert [(e["id"], e["seq"], e["type"], e["data"]) for e in fed] == [
        (a.body["id"], a.body["seq"], a.body["type"], a.body["data"]) for a in actions]
    assert client.get(f"/v1/cases/{case_id}/feed", headers=client.as_("upstream")).json()["items"][0]["id"] == (
        first.body["id"])
    assert client.get(f"/v1/cases/{case_id}/feed?from_seq=0", headers=client.as_("upstream")).status_code == 422


def test_each_cases_events_arrive_in_order_under_two_dispatchers_concurrency_and_failures(
        fast, sessions, engine, dispatcher, subscriber):
    hook = subscriber()
    answered = iter(range(10**6))
    hook.answer = lambda received: 500 if next(answered) % 3 == 0 else 200  # every third request fails
    subscribe(sessions, hook.url)
    cases = [new_case(sessions) for _ in range(8)]
    settings = fast.model_copy(update={"webhook_max_attempts": 50, "webhook_concurrency": 4})
    dispatcher(settings)
    dispatcher(settings)
    for n in range(5):  # the events come while the dispatchers work, cases interleaved
        for case_id in cases:
            emit(engine, case_id, data={"n": n})

    wait_until(lambda: len(hook.answered()) == 40, timeout=60, what="40 callbacks delivered")
    attempts, delivered = defaultdict(list), defaultdict(list)
    for received in hook.received:
        attempts[received.body["case_id"]].append(received.body["data"]["n"])
        if received.status == 200:
            delivered[received.body["case_id"]].append(received.body["data"]["n"])
    assert len(hook.answered(500)) > 0  # there were retries
    for case_id in cases:
        assert delivered[str(case_id)] == [0, 1, 2, 3, 4]  # each once, in order
        assert attempts[str(case_id)] == sorted(attempts[str(case_id)])  # no event tried before the last one arrived


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap():
    for attempts, nominal in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (500, 60.0)]:
        delays = [backoff.delay(attempts=attempts, base=1.0, cap=60.0) for _ in range(200)]
        assert all(nominal / 2 <= d <= nominal for d in delays)
        assert len(set(delays)) > 100  # jittered


def test_a_failed_attempt_waits_its_backoff_before_the_next(fast, sessions, engine, dispatcher, subscriber):
    hook = subscriber()
    hook.answer = lambda received: 503
    hook_id = subscribe(sessions, hook.url)
    emit(engine, new_case(sessions))
    dispatcher(fast.model_copy(update={"webhook_backoff_base": 30.0, "webhook_backoff_max": 60.0}))

    wait_until(lambda: deliveries(engine, hook_id)[0]["last_status_code"] == 503, timeout=20, what="one failure")
    with engine.connect() as conn:
        status, attempts, error, wait = conn.execute(text(
            "SELECT status, attempts, last_error, extract(epoch FROM next_attempt_at - now())::float "
            "FROM webhook_deliveries WHERE webhook_id = :w"), {"w": hook_id}).one()
    assert (status, attempts) == ("pending", 1) and error.startswith("HTTP 503")
    assert 10 < wait <= 30  # half to all of the first backoff (30 s) still to wait
    assert len(hook.received) == 1


def test_a_failing_subscriber_ends_in_dead_letters_in_order_and_a_replay_delivers_them(
        client, sessions, engine, dispatcher, subscriber):
    hook = subscriber()
    hook.answer = lambda received: 503
    admin = client.as_("admin")
    hook_id = client.post("/v1/webhooks", headers=admin, json={
        "url": hook.url, "events": ["action.*"], "secret": SECRET}).json()["id"]
    case_id = new_case(sessions)
    emit(engine, case_id, count=2)
    dispatcher()  # three attempts each

    def dead() -> list[dict]:
        return client.get(f"/v1/webhooks/{hook_id}/deliveries?status=dead", headers=admin).json()["items"]

    wait_until(lambda: len(dead()) == 2, timeout=30, what="both deliveries dead")
    assert [r.body["data"]["n"] for r in hook.received] == [0, 0, 0, 1, 1, 1]  # the second waited for the first
    letters = dead()
    assert {(d["type"], d["case_id"], d["attempts"], d["last_status_code"]) for d in letters} == {
        ("action.executed", str(case_id), 3, 503)}
    assert all(d["last_error"].startswith("HTTP 503") and d["dead_at"] for d in letters)
    assert client.get(f"/v1/webhooks/{hook_id}", headers=admin).json()["dead"] == 2
    page = client.get(f"/v1/webhooks/{hook_id}/deliveries?status=dead&limit=1", headers=admin).json()
    rest = client.get(f"/v1/webhooks/{hook_id}/deliveries?status=dead&limit=1&cursor={page['next']}",
                      headers=admin).json()
    assert [d["id"] for d in page["items"] + rest["items"]] == sorted((d["id"] for d in letters), reverse=True)
    assert rest["next"] is None  # newest first, a page at a time, each once

    hook.answer = lambda received: 200
    first, later = sorted(d["id"] for d in letters)
    # Replaying the later one brings the earlier one back with it, first: the case's order holds.
    replayed = client.post(f"/v1/webhooks/{hook_id}/deliveries/{later}/replay", headers=admin)
    assert replayed.status_code == 202 and replayed.json() == {"replayed": 2}
    wait_until(lambda: len(hook.answered()) == 2, timeout=20, what="the replayed deliveries")
    assert [(r.body["data"]["n"], r.body["seq"]) for r in hook.answered()] == [(0, 1), (1, 2)]
    again = client.post(f"/v1/webhooks/{hook_id}/deliveries/{first}/replay", headers=admin)
    assert again.status_code == 409 and "delivered" in again.json()["message"]
    assert client.post(f"/v1/webhooks/{hook_id}/deliveries/999999999/replay", headers=admin).status_code == 404
    assert client.post(f"/v1/webhooks/{hook_id}/replay", headers=admin).json() == {"replayed": 0}
    delivered = client.get(f"/v1/webhooks/{hook_id}/deliveries?status=delivered", headers=admin).json()["items"]
    assert [d["attempts"] for d in delivered] == [1, 1]  # attempts counted afresh after the replay
    assert client.get(f"/v1/webhooks/{hook_id}/deliveries?status=dead", headers=admin).json()["items"] == []


def test_a_slow_subscriber_delays_neither_another_subscriber_nor_more_than_its_own_slots(
        fast, sessions, engine, dispatcher, subscriber):
    slow, quick = subscriber(), subscriber()
    slow.hold()  # answers nothing until released
    slow_id = subscribe(sessions, slow.url)
    subscribe(sessions, quick.url)
    for case_id in [new_case(sessions) for _ in range(4)]:
        emit(engine, case_id, count=5)
    dispatcher(fast.model_copy(update={"webhook_timeout": 30.0, "webhook_concurrency": 2}))
    try:
        wait_until(lambda: len(quick.answered()) == 20, timeout=30, what="the quick subscriber's 20 callbacks")
        # All of the quick one's arrived while the slow one's first requests still hang: none timed out.
        assert slow.waiting == 2  # its two slots, no more
        assert all(row["last_error"] is None and row["status"] == "pending" for row in deliveries(engine, slow_id))
    finally:
        slow.release()
    wait_until(lambda: len(slow.answered()) == 20, timeout=30, what="the slow subscriber catching up")


def test_a_crashed_dispatchers_leased_deliveries_are_made_by_another(fast, sessions, engine, dispatcher, subscriber):
    hook = subscriber()
    hook.hold()
    hook_id = subscribe(sessions, hook.url)
    emit(engine, new_case(sessions))
    process = Process("dispatcher", ["dispatcher"], settings_env(fast.model_copy(update={"webhook_timeout": 30.0})))
    try:
        wait_until(lambda: hook.waiting == 1, timeout=30, what="the dispatcher's request")
        process.kill()  # mid-request: its lease stays behind
    finally:
        process.stop()
    (row,) = deliveries(engine, hook_id)
    assert (row["status"], row["attempts"], row["leased_until"] is not None) == ("pending", 1, True)

    hook.release()  # the dead process's request is answered to nobody
    with engine.begin() as conn:  # time passes: the lease lapses
        conn.execute(text("UPDATE webhook_deliveries SET leased_until = now() - interval '1 second'"))
    dispatcher()
    wait_until(lambda: deliveries(engine, hook_id)[0]["status"] == "delivered", timeout=20, what="redelivery")
    assert deliveries(engine, hook_id)[0]["attempts"] == 2
    assert len({r.body["id"] for r in hook.received}) == 1 and len(hook.received) == 2  # at least once


def test_a_result_is_recorded_only_under_the_lease_it_was_claimed_with(fast, sessions, engine, subscriber):
    """A dispatcher that outlived its lease cannot overwrite what the next holder recorded."""
    import asyncio

    from services.dispatcher import store
    from services.dispatcher.main import make_pool

    hook_id = subscribe(sessions, subscriber().url)
    emit(engine, new_case(sessions))

    async def race() -> list[str]:
        pool = make_pool(fast)
        await pool.open()
        async with pool.connection() as conn:
            (late,) = await store.claim(conn, webhook_id=hook_id, limit=10, lease_seconds=0.01)
            await asyncio.sleep(0.05)  # its lease lapses
            (current,) = await store.claim(conn, webhook_id=hook_id, limit=10, lease_seconds=30)
            await store.delivered(conn, claimed=[current], status_codes=[200], answers=[None])
            await store.failed(conn, claimed=[late], delays=[0.0], error="late", status_code=500, max_attempts=1)
        await pool.close()

    asyncio.run(race())
    (row,) = deliveries(engine, hook_id)
    assert (row["status"], row["last_error"], row["attempts"]) == ("delivered", None, 2)


def test_the_dispatcher_waits_out_a_database_outage_and_goes_on(fast, sessions, engine, dispatcher, subscriber):
    from tests.support.proxy import Proxy

    hook = subscriber()
    hook_id = subscribe(sessions, hook.url)
    case_id = new_case(sessions)
    proxy = Proxy.in_front_of(fast.database_url)
    try:
        dispatcher(fast.model_copy(update={"database_url": proxy.route(fast.database_url), "webhook_timeout": 5.0}))
        emit(engine, case_id, data={"n": 0})
        wait_until(lambda: len(hook.answered()) == 1, timeout=20, what="the first callback")
        hook.hold()
        emit(engine, case_id, data={"n": 1})
        wait_until(lambda: hook.waiting == 1, timeout=20, what="the second callback in flight")
        proxy.cut()  # the answer comes while the database is away: its result waits to be recorded
        hook.release()
        emit(engine, case_id, data={"n": 2})  # written by others meanwhile; claimed once the database is back
        wait_until(lambda: len(hook.answered()) == 2, timeout=20, what="the second answer")
        proxy.restore()
        wait_until(lambda: [r["status"] for r in deliveries(engine, hook_id)] == ["delivered"] * 3, timeout=60,
                   what="every delivery recorded")
    finally:
        proxy.close()
    heard = [r.body["data"]["n"] for r in hook.answered()]
    assert list(dict.fromkeys(heard)) == [0, 1, 2]  # in order (the second once more if its result was lost)
