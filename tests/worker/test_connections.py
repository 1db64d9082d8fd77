"""Platforms as they connect: each tenant's actions reach its own platform, signed with its own
secret; any 2xx confirms; 409, 503 and Retry-After are waited out; another 4xx is a refusal on the
case. Over real HTTP, with the demo platform as two processes."""

import time
import uuid
from datetime import datetime

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import SecretStr
from sqlalchemy import select

from shared import connections, secretbox
from shared.domain import ActionStatus, CommandKind, Status
from shared.models import Action
from services.worker.connections import Platforms
from services.worker.platform import PlatformUnavailable
from tests.support.arrange import case_row, decide, started
from tests.support.processes import Process, free_port, settings_env, wait_http

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"
OTHER_SECRET = "the-second-platform-secret"


@pytest.fixture(scope="module")
def second_platform(settings):
    """Another platform, as its own process, that checks calls against its own secret."""
    url = f"http://127.0.0.1:{free_port()}"
    process = Process("platform-b", ["demo-platform", "--port", url.rsplit(":", 1)[1]], settings_env(settings))
    try:
        wait_http(f"{url}/calls", process)
        with httpx.Client(base_url=url, timeout=5) as client:
            client.post("/_admin/platform-secret", json={"secret": OTHER_SECRET}).raise_for_status()
            yield client
    finally:
        process.stop()


@pytest.fixture
def pool(settings):
    with ConnectionPool(settings.libpq_url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        yield pool


def connect(settings, tenant: str, *, base_url: str, secret: str | None) -> None:
    """A connection of the tenant's own, written as the api and the CLI write it."""
    _change(settings, tenant, connections.Change(base_url=base_url, secret=secret))


def remove(settings, tenant: str) -> None:
    _change(settings, tenant, connections.Change(removed=True))


def _change(settings, tenant: str, change: connections.Change) -> None:
    with psycopg.connect(settings.libpq_url, autocommit=True, row_factory=dict_row) as conn:
        now = conn.execute(connections.CURRENT, {"tenant": tenant}).fetchone()
        conn.execute(connections.ADD, connections.next_version(now, change, tenant=tenant, box=settings.secret_box,
                                                                by="admin"))


def closed_with(runner, sessions, decision: str, *, tenant: str = "upstream", author: str = "u-1") -> uuid.UUID:
    case_id = started(runner, sessions, ABUSIVE, tenant=tenant, author_id=author)
    runner.handle(case_id=str(case_id), message_id=str(decide(sessions, case_id, decision, by="mod-ana")),
                  kind=CommandKind.RESUME)
    return case_id


def ledger(sessions, case_id) -> list[Action]:
    with sessions() as session:
        return list(session.scalars(select(Action).filter_by(case_id=case_id).order_by(Action.seq)))


def test_two_tenants_reach_only_their_own_platform_each_signed_with_its_secret(
        settings, runner, sessions, fresh_platform, second_platform):
    second_platform.post("/_admin/reset").raise_for_status()
    connect(settings, "tenant-b", base_url=str(second_platform.base_url).rstrip("/"), secret=OTHER_SECRET)
    a = closed_with(runner, sessions, "remove", tenant="upstream")
    b = closed_with(runner, sessions, "remove_and_ban", tenant="tenant-b", author="bo")

    calls_a, calls_b = fresh_platform.get("/calls").json(), second_platform.get("/calls").json()
    assert [(c["action"], c["body"]["tenant"], c["body"]["case_id"]) for c in calls_a] == [("remove", "upstream", str(a))]
    assert [(c["action"], c["body"]["tenant"], c["body"]["case_id"]) for c in calls_b] == [
        ("remove", "tenant-b", str(b)), ("ban", "tenant-b", str(b))]
    # Each platform checked the signature with its own secret: a 200 is a verified call.
    assert {(c["status"], c["signed"]) for c in calls_a + calls_b} == {(200, True)}
    first = calls_b[0]["body"]
    assert (first["round"], first["decision"], first["idempotency_key"]) == (1, "remove_and_ban", f"{b}:r1:remove")
    assert case_row(sessions, b).status == Status.CLOSED
    assert second_platform.get("/users/bo").json()["banned"] is True
    assert fresh_platform.get("/users/bo").json()["banned"] is False


def test_a_changed_connection_is_used_without_a_restart_and_removing_it_sends_the_tenant_back(
        settings, second_platform, pool):
    platforms = Platforms(db=pool, settings=settings.model_copy(update={"connection_cache_seconds": 0.2}))
    try:
        assert platforms.for_tenant("tenant-c") is platforms.default
        connect(settings, "tenant-c", base_url=str(second_platform.base_url).rstrip("/"), secret=OTHER_SECRET)
        assert platforms.for_tenant("tenant-c") is platforms.default  # read 0.2 s ago: still cached
        time.sleep(0.3)
        own = platforms.for_tenant("tenant-c")
        assert own is not platforms.default and platforms.for_tenant("tenant-c") is own
        remove(settings, "tenant-c")
        time.sleep(0.3)
        assert platforms.for_tenant("tenant-c") is platforms.default
    finally:
        platforms.close()


def test_a_secret_that_does_not_open_stops_the_action_rather_than_calling_unsigned(settings, second_platform, pool):
    connect(settings, "tenant-d", base_url=str(second_platform.base_url).rstrip("/"), secret=OTHER_SECRET)
    stranger = settings.model_copy(update={"secret_keys": SecretStr(secretbox.new_key())})  # not the sealing key
    with pytest.raises(PlatformUnavailable, match="cannot be used: a stored secret was sealed under a key"):
        Platforms(db=pool, settings=stranger).for_tenant("tenant-d")


@pytest.mark.parametrize(("style", "kept"), [
    ("json", {"status": 200, "body": {"id": "u-1", "banned": False, "warnings": 1}}),
    ("empty", {"status": 204, "body": None}),
    ("text", {"status": 200, "body": "OK"}),
])
def test_any_2xx_confirms_and_what_it_said_is_kept(runner, sessions, fresh_platform, style, kept):
    fresh_platform.post("/_admin/replies", json={"style": style}).raise_for_status()
    case_id = closed_with(runner, sessions, "warn")
    case = case_row(sessions, case_id)
    assert (case.status, case.actions_refused) == (Status.CLOSED, False)
    [action] = ledger(sessions, case_id)
    assert (action.status, action.response) == (ActionStatus.CONFIRMED, kept)


@pytest.mark.parametrize("status", [409, 503, 429, 408])
def test_a_busy_or_failing_platform_is_asked_again_and_the_action_runs_once(runner, sessions, fresh_platform, status):
    fresh_platform.post("/_admin/faults", json={"status": status, "count": 2}).raise_for_status()
    case_id = closed_with(runner, sessions, "warn")
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert [c["status"] for c in fresh_platform.get("/calls").json()] == [status, status, 200]
    assert fresh_platform.get("/users/u-1").json()["warnings"] == 1
    [action] = ledger(sessions, case_id)
    assert (action.status, action.attempts) == (ActionStatus.CONFIRMED, 1)


def test_retry_after_is_honoured(runner, sessions, fresh_platform):
    fresh_platform.post("/_admin/faults", json={"status": 503, "count": 1, "retry_after": 1}).raise_for_status()
    closed_with(runner, sessions, "warn")
    first, second = fresh_platform.get("/calls").json()
    waited = (datetime.fromisoformat(second["at"]) - datetime.fromisoformat(first["at"])).total_seconds()
    assert first["status"] == 503 and second["status"] == 200
    assert waited >= 1.0  # the client's own backoff here is 0.05 s: only the header makes it wait a second


def test_a_refusal_shows_on_the_case_with_the_action_and_the_platforms_reason(runner, sessions, fresh_platform):
    fresh_platform.post("/_admin/faults", json={"status": 403, "count": 1}).raise_for_status()
    case_id = closed_with(runner, sessions, "warn")
    case = case_row(sessions, case_id)
    assert (case.status, case.actions_refused) == (Status.CLOSED, True)
    [action] = ledger(sessions, case_id)
    assert action.status == ActionStatus.REFUSED
    assert "refused /users/u-1/warn with 403" in action.last_error and "injected fault 403" in action.last_error
    assert len(fresh_platform.get("/calls").json()) == 1  # a refusal is not asked again
