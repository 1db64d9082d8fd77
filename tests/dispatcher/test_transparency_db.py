"""Statements to the DSA Transparency Database: a tenant's statements endpoint on its connection,
delivered with its Bearer token in batches the database's rules allow, each statement stored there
exactly once across a lost answer and a killed dispatcher; tested against a local stand-in that
enforces those rules (demo/transparency_db.py)."""

from datetime import UTC, datetime

import httpx
from pydantic import SecretStr
import pytest
from sqlalchemy import text

from shared import dsa, statements
from shared.domain import CommandKind
from tests.conftest import PLATFORM_SECRET
from tests.statements.arrange import ABUSIVE, receive, run
from tests.support.arrange import decide
from tests.support.processes import Process, free_port, settings_env, wait_http, wait_until

TOKENS = {"forum": "X|forum-token-of-the-database", "market": "X|market-token-of-the-database"}


@pytest.fixture(scope="module")
def database(settings):
    port = free_port()
    process = Process("transparency-db", ["demo-transparency-db", "--port", str(port)], settings_env(settings))
    try:
        wait_http(f"http://127.0.0.1:{port}/_admin/calls", process)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for platform, token in TOKENS.items():
                client.post("/_admin/tokens", json={"token": token, "platform": platform}).raise_for_status()
            yield client
    finally:
        process.stop()


@pytest.fixture
def fresh_database(database):
    database.post("/_admin/reset").raise_for_status()
    return database


def connect(client, settings, database, tenant: str) -> None:
    """The tenant's connection: actions to the demo platform, statements to the database as `tenant`."""
    answer = client.put(f"/v1/connections/{tenant}", headers=client.as_("admin"), json={
        "base_url": settings.platform_url, "secret": PLATFORM_SECRET,
        "statements_url": f"{database.base_url}/api/v1/statements", "statements_token": TOKENS[tenant]})
    assert answer.status_code == 200, answer.text


def removed(runner, sessions, *, tenant: str, external_id: str | None = None):
    case_id, start = receive(sessions, text=ABUSIVE, tenant=tenant, external_id=external_id)
    run(runner, case_id, start, CommandKind.START)
    run(runner, case_id, decide(sessions, case_id, "remove", by="mod-ana"), CommandKind.RESUME)
    return case_id


def deliveries(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(
            "SELECT d.status, d.attempts, d.answer, e.data ->> 'puid' AS puid FROM webhook_deliveries d"
            " JOIN webhooks w ON w.id = d.webhook_id JOIN case_events e ON e.id = d.event_id"
            " WHERE w.kind = 'dsa-transparency-db' ORDER BY d.id"))]


def test_each_statement_is_stored_once_across_a_lost_answer_and_a_killed_dispatcher(
        client, settings, fast, runner, sessions, engine, dispatcher, fresh_database):
    connect(client, settings, fresh_database, "forum")
    long_id = "thread/" + "é" * 190  # its readable puid would be far over 500 characters
    for external_id in (None, long_id, None):
        removed(runner, sessions, tenant="forum", external_id=external_id)
    fresh_database.post("/_admin/lose", json={"count": 1}).raise_for_status()  # stored, then a 504
    running = dispatcher()
    wait_until(lambda: all(d["status"] == "delivered" for d in deliveries(engine)) and len(deliveries(engine)) == 3,
               timeout=30, what="three statements delivered")
    running.stop()
    calls = fresh_database.get("/_admin/calls").json()
    assert [call["status"] for call in calls] == [201, 422]  # stored with its answer lost, then "puids used"
    assert all(d["answer"]["already_accepted"] for d in deliveries(engine))

    # A dispatcher killed while the database holds its answer: another sends the batch again.
    for _ in range(2):
        removed(runner, sessions, tenant="forum")
    fresh_database.post("/_admin/delay", json={"seconds": 30}).raise_for_status()
    killed = Process("dispatcher", ["dispatcher"], settings_env(fast.model_copy(update={"webhook_timeout": 30.0})))
    try:
        wait_until(lambda: len(fresh_database.get("/_admin/stored").json()) == 5, timeout=30,
                   what="the database storing the second batch")
        killed.kill()
    finally:
        killed.stop()
    with engine.begin() as conn:  # time passes: the dead dispatcher's lease lapses
        conn.execute(text("UPDATE webhook_deliveries SET leased_until = now() - interval '1 second'"
                          " WHERE status = 'pending'"))
    dispatcher()
    wait_until(lambda: all(d["status"] == "delivered" for d in deliveries(engine)) and len(deliveries(engine)) == 5,
               timeout=30, what="five statements delivered")

    # Stored with its answer lost, "puids used"; stored with its dispatcher killed, "puids used" again.
    assert [call["status"] for call in fresh_database.get("/_admin/calls").json()] == [201, 422, 201, 422]
    stored = fresh_database.get("/_admin/stored").json()
    puids = [record["puid"] for record in stored]
    assert len(puids) == 5 and len(set(puids)) == 5  # each statement exactly once
    assert {d["puid"] for d in deliveries(engine)} == set(puids)
    assert all(len(puid) <= 500 and dsa.PUID.fullmatch(puid) for puid in puids)
    assert {record["platform"] for record in stored} == {"forum"}


def test_two_tenants_send_their_statements_with_their_own_tokens(client, settings, runner, sessions, engine,
                                                                 dispatcher, fresh_database):
    for tenant in TOKENS:
        connect(client, settings, fresh_database, tenant)
    for tenant in TOKENS:
        removed(runner, sessions, tenant=tenant, external_id="post-1")
    dispatcher()
    wait_until(lambda: len(fresh_database.get("/_admin/stored").json()) == 2, timeout=30, what="two statements")
    stored = {record["platform"]: record["puid"] for record in fresh_database.get("/_admin/stored").json()}
    assert stored == {"forum": "forum__post-1__r1", "market": "market__post-1__r1"}
    wait_until(lambda: [d["status"] for d in deliveries(engine)] == ["delivered"] * 2, timeout=10, what="recorded")
    assert all(d["answer"]["uuid"] and d["answer"]["status"] == 201 for d in deliveries(engine))
    with engine.connect() as conn:
        hook_id = conn.execute(text("SELECT id FROM webhooks WHERE tenant = 'forum'")).scalar()
    [shown] = client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=client.as_("admin")).json()["items"]
    assert shown["answer"]["permalink"].endswith(shown["answer"]["uuid"])  # the admin sees where it is stored

    # The tenant's statements endpoint goes with its connection.
    assert client.delete("/v1/connections/market", headers=client.as_("admin")).status_code == 204
    with engine.connect() as conn:
        assert conn.execute(text("SELECT tenant FROM webhooks WHERE kind = 'dsa-transparency-db'")).scalars().all() == [
            "forum"]


def statement(puid: str, **changes) -> dict:
    body = statements.build(tenant="forum", external_id="p", round=1, restrictions=["remove"],
                            analysis={"category": "abuse"}, metadata={}, received_at=datetime.now(UTC),
                            grounds=statements.DEFAULT_GROUNDS)
    return body | {"puid": puid} | changes


def test_the_stand_in_enforces_the_databases_rules(fresh_database):
    def post(statements: list, token: str | None = TOKENS["forum"]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return fresh_database.post("/api/v1/statements", json={"statements": statements}, headers=headers)

    assert post([statement("a")], token=None).status_code == 401
    assert post([statement("a")], token="X|not-a-token-it-knows").status_code == 401
    assert post([]).status_code == 422 and post([statement(f"p{n}") for n in range(101)]).status_code == 422
    wrong = post([statement("b", category="STATEMENT_CATEGORY_RUDENESS")])
    assert wrong.status_code == 422 and "category" in wrong.text
    assert post([statement("c" * 501)]).status_code == 422
    twice = post([statement("d"), statement("d")])
    assert twice.status_code == 422 and twice.json()["errors"]["existing_puids"] == ["d"]
    assert post([statement("e")]).status_code == 201
    again = post([statement("f"), statement("e")])  # all or none: f is not stored either
    assert again.status_code == 422 and again.json()["errors"]["existing_puids"] == ["e"]
    assert post([statement("e")], token=TOKENS["market"]).status_code == 201  # puids are unique per platform
    assert [(r["platform"], r["puid"]) for r in fresh_database.get("/_admin/stored").json()] == [
        ("forum", "e"), ("market", "e")]


def test_statements_url_of_the_database_kind_sends_every_tenants_with_its_token(
        fast, runner, sessions, engine, dispatcher, fresh_database):
    """The one-platform install: STATEMENTS_URL, STATEMENTS_KIND=dsa-transparency-db, STATEMENTS_SECRET the token."""
    settings = fast.model_copy(update={"statements_url": f"{fresh_database.base_url}/api/v1/statements",
                                       "statements_kind": "dsa-transparency-db",
                                       "statements_secret": SecretStr(TOKENS["forum"])})
    dispatcher(settings)
    removed(runner, sessions, tenant="upstream", external_id="post-9")
    wait_until(lambda: [d["status"] for d in deliveries(engine)] == ["delivered"], timeout=30, what="the statement")
    assert [(r["platform"], r["puid"]) for r in fresh_database.get("/_admin/stored").json()] == [
        ("forum", "upstream__post-9__r1")]


def test_a_batch_the_database_refuses_is_dead_at_once_with_its_reasons(fast, sessions, engine, dispatcher,
                                                                       fresh_database):
    from tests.dispatcher.conftest import emit, new_case

    settings = fast.model_copy(update={"statements_url": f"{fresh_database.base_url}/api/v1/statements",
                                       "statements_kind": "dsa-transparency-db",
                                       "statements_secret": SecretStr(TOKENS["forum"]),
                                       "webhook_max_attempts": 10})
    dispatcher(settings)  # writes the database's subscriber, which hears the statements from then on
    def subscribed() -> bool:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM webhooks")).scalar() == 1

    wait_until(subscribed, timeout=20, what="the statements subscriber")
    emit(engine, new_case(sessions), type="statement.issued", data={"puid": "p-1"})  # no ground, no category…
    wait_until(lambda: [d["status"] for d in deliveries(engine)] == ["dead"], timeout=30, what="a dead delivery")
    with engine.connect() as conn:
        attempts, error = conn.execute(text("SELECT attempts, last_error FROM webhook_deliveries")).one()
    assert attempts == 1 and "HTTP 422" in error and "decision_ground is required" in error
    assert [call["status"] for call in fresh_database.get("/_admin/calls").json()] == [422]


def test_a_statements_endpoint_with_statements_still_to_deliver_is_not_removed(client, settings, runner, sessions,
                                                                               engine, fresh_database):
    connect(client, settings, fresh_database, "forum")
    removed(runner, sessions, tenant="forum")  # no dispatcher runs: its statement waits
    admin = client.as_("admin")
    for refused in (client.delete("/v1/connections/forum", headers=admin),
                    client.put("/v1/connections/forum", headers=admin, json={"base_url": settings.platform_url})):
        assert refused.status_code == 409 and "1 statement(s) of 'forum' are not delivered" in refused.json()["message"]
    assert [d["status"] for d in deliveries(engine)] == ["pending"]  # nothing lost
    kept = client.put("/v1/connections/forum", headers=admin, json={  # another URL keeps its deliveries
        "base_url": settings.platform_url, "statements_url": f"{fresh_database.base_url}/api/v1/statements"})
    assert kept.status_code == 200 and [d["status"] for d in deliveries(engine)] == ["pending"]
