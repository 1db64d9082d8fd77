"""Outages of Postgres and RabbitMQ under running processes: the api keeps taking cases where it
can, nothing is lost, and every process recovers by itself when the service returns."""

import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from demo.stack import Stack
from shared.models import OutboxMessage
from tests.support.processes import free_port, wait_until
from tests.support.proxy import Proxy

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron #{n}"


def post(client: httpx.Client, count: int) -> list[str]:
    ids = []
    for n in range(count):
        answer = client.post("/v1/cases", json={"external_id": f"outage-{uuid.uuid4().hex[:8]}",
                                                "content": {"text": ABUSIVE.format(n=n), "author_id": f"u{n}"}})
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["case_id"])
    return ids


def all_awaiting_review(client: httpx.Client, ids: list[str]) -> bool:
    # a 503 while the api's pool reconnects is "not yet"
    return all(client.get(f"/v1/cases/{case_id}").json().get("status") == "awaiting_review" for case_id in ids)


@pytest.fixture
def proxied_stack(settings, platform, request):
    """api, relay and worker with one service (postgres or rabbitmq) reached through a cuttable proxy."""
    field = {"postgres": "database_url", "rabbitmq": "rabbitmq_url"}[request.param]
    proxy = Proxy.in_front_of(getattr(settings, field))
    settings = settings.model_copy(update={field: proxy.route(getattr(settings, field)), "step_max_attempts": 8})
    stack = Stack(settings, api_port=free_port())
    try:
        stack.start_api()
        stack.start_relay()
        stack.start_worker(threads=2)
        yield stack, proxy
    finally:
        stack.stop()
        proxy.close()


@pytest.mark.parametrize("proxied_stack", ["rabbitmq"], indirect=True)
def test_with_rabbitmq_away_cases_are_accepted_and_flow_once_it_returns(proxied_stack, keys, sessions, fresh_platform):
    stack, proxy = proxied_stack
    client = httpx.Client(base_url=stack.api_url, headers={"X-API-Key": keys["admin"]}, timeout=10)
    proxy.cut()
    ids = post(client, 10)  # the api never talks to RabbitMQ: it keeps answering 202
    time.sleep(2)
    with sessions() as session:
        waiting = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None)))
    assert waiting == 10  # the outbox holds them
    proxy.restore()
    wait_until(lambda: all_awaiting_review(client, ids), timeout=90, interval=0.5, what="cases after RabbitMQ returned")


@pytest.mark.parametrize("proxied_stack", ["postgres"], indirect=True)
def test_with_postgres_away_every_process_recovers_by_itself(proxied_stack, keys, fresh_platform):
    stack, proxy = proxied_stack
    client = httpx.Client(base_url=stack.api_url, headers={"X-API-Key": keys["admin"]}, timeout=10)
    ids = post(client, 10)
    proxy.cut()
    started = time.monotonic()
    down = client.get(f"/v1/cases/{ids[0]}")
    assert down.status_code == 503 and down.json()["error"] == "unavailable"
    print(f"\n503 after {(time.monotonic() - started) * 1000:.0f} ms with Postgres cut off")
    time.sleep(3)
    proxy.restore()
    wait_until(lambda: all_awaiting_review(client, ids), timeout=120, interval=0.5, what="cases after Postgres returned")
    assert all(process.alive() for process in stack.processes)


def test_a_worker_stops_cleanly_on_sigterm(settings, platform):
    stack = Stack(settings, api_port=free_port())
    worker = stack.start_worker(threads=2)
    time.sleep(3)
    stack.stop()
    assert worker.popen.returncode == 0, worker.log()
    assert "stopping: finishing the messages in hand" in worker.log()
