"""The configured statements endpoint gets statements in signed batches of at most 100; the demo
platform, as a subscriber, believes only callbacks signed with its secret."""

import time

from pydantic import SecretStr
from sqlalchemy import select, text

from shared import events, signing
from shared.models import Webhook
from services.dispatcher.statements import CREATED_BY
from tests.dispatcher.conftest import SECRET, emit, new_case, subscribe
from tests.support.processes import wait_until

STATEMENTS_SECRET = "the-statements-endpoint-secret-123"


def test_statements_go_to_the_configured_endpoint_in_signed_batches_of_at_most_100(
        fast, sessions, engine, dispatcher, subscriber):
    endpoint = subscriber()
    settings = fast.model_copy(update={"statements_url": endpoint.url, "statements_secret": SecretStr(STATEMENTS_SECRET)})
    first = dispatcher(settings)  # writes the subscriber from the settings
    wait_until(lambda: _statement_hooks(sessions), timeout=20, what="the statements subscriber")
    first.stop()
    for n, case_id in enumerate([new_case(sessions) for _ in range(150)]):
        emit(engine, case_id, type=events.STATEMENT_ISSUED, data={"puid": f"p-{n}", "decision_visibility": ["x"]})
        emit(engine, case_id, type=events.ACTION_EXECUTED)  # not a statement: not for this endpoint
    dispatcher(settings)  # starting again keeps the one subscriber

    wait_until(lambda: sum(len(r.body["statements"]) for r in endpoint.answered()) == 150, timeout=30,
               what="150 statements")
    assert len(_statement_hooks(sessions)) == 1
    batches = endpoint.answered()
    assert sorted(len(r.body["statements"]) for r in batches) == [50, 100]
    assert sorted(s["puid"] for r in batches for s in r.body["statements"]) == sorted(f"p-{n}" for n in range(150))
    for received in batches:
        signing.verify(secret=STATEMENTS_SECRET, body=received.raw, timestamp=received.headers["x-vigil-timestamp"],
                       signature_header=received.headers["x-vigil-signature"])


def _statement_hooks(sessions) -> list[Webhook]:
    with sessions() as session:
        return session.scalars(select(Webhook).where(Webhook.kind == "statements")).all()


def test_the_demo_platform_keeps_signed_callbacks_and_refuses_others(fresh_platform):
    fresh_platform.post("/_admin/callback-secret", json={"secret": SECRET}).raise_for_status()
    body = b'{"id":"e-1","type":"case.closed","case_id":"c-1","status":"closed"}'

    def post(raw: bytes, headers: dict) -> int:
        return fresh_platform.post("/callbacks", content=raw,
                                   headers={"Content-Type": "application/json", **headers}).status_code

    assert post(body, signing.sign(secret=SECRET, body=body)) == 200
    assert post(body.replace(b"closed", b"opened"), signing.sign(secret=SECRET, body=body)) == 401
    assert post(body, signing.sign(secret="somebody-elses-secret-1234", body=body)) == 401
    assert post(body, signing.sign(secret=SECRET, body=body, now=time.time() - 3600)) == 401  # a replay
    assert post(body, {}) == 401
    kept = fresh_platform.get("/callbacks").json()
    assert [k["body"]["type"] for k in kept] == ["case.closed"]
    assert fresh_platform.get("/callbacks", params={"case_id": "c-2"}).json() == []
    assert fresh_platform.post("/_admin/callback-secret", json={"secret": "short"}).status_code == 422


def test_the_dispatcher_delivers_a_cases_life_to_the_demo_platform(client, sessions, engine, dispatcher, settings,
                                                                   fresh_platform):
    fresh_platform.post("/_admin/callback-secret", json={"secret": SECRET}).raise_for_status()
    hook_id = subscribe(sessions, f"{settings.platform_url}/callbacks")
    case_id = new_case(sessions)
    emit(engine, case_id, count=3)
    dispatcher()

    wait_until(lambda: len(fresh_platform.get("/callbacks").json()) == 3, timeout=20, what="three callbacks")
    kept = fresh_platform.get("/callbacks", params={"case_id": str(case_id)}).json()
    assert [k["body"]["data"]["n"] for k in kept] == [0, 1, 2]
    assert all(k["headers"]["X-Vigil-Signature"].startswith("sha256=") for k in kept)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT array_agg(DISTINCT status) FROM webhook_deliveries WHERE webhook_id = :w"),
                            {"w": hook_id}).scalar() == ["delivered"]


def test_the_statements_subscriber_is_written_once_whatever_the_number_of_dispatchers(fast, sessions):
    import asyncio

    from services.dispatcher import statements
    from services.dispatcher.main import make_pool

    async def configure_concurrently(settings) -> None:
        pool = make_pool(settings.model_copy(update={"db_pool_size": 4}))
        await pool.open()

        async def one() -> None:
            async with pool.connection() as conn:
                await statements.configure(conn, settings)

        await asyncio.gather(*(one() for _ in range(4)))
        await pool.close()

    asyncio.run(configure_concurrently(fast.model_copy(update={
        "statements_url": "https://transparency.example/api/v1/statements", "statements_secret": SecretStr(STATEMENTS_SECRET)})))
    asyncio.run(configure_concurrently(fast.model_copy(update={
        "statements_url": "https://transparency.example/api/v2/statements", "statements_secret": SecretStr(STATEMENTS_SECRET)})))
    (hook,) = _statement_hooks(sessions)
    assert (hook.url, hook.events, hook.tenant, hook.created_by) == (
        "https://transparency.example/api/v2/statements", [events.STATEMENT_ISSUED], None, CREATED_BY)
