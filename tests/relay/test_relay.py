"""The relay against the real Postgres and RabbitMQ."""

import json
import re
import shutil
import subprocess
import threading
import time
import uuid

import aiormq.exceptions
import httpx
import pika
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from shared.contracts import MAX_PRIORITY
from shared.db import make_engine
from shared.models import OutboxMessage
from services.relay.publisher import BatchInterrupted, BatchPublisher
from services.relay.relay import Relay
from tests.relay.tripwire import Tripwire
from tests.support.arrange import add_commands
from tests.support.processes import Process, free_port, settings_env, wait_until
from tests.support.proxy import Proxy


@pytest.fixture
def queue(settings):
    """A queue of this test's own; its messages are read back with pika and it is deleted after."""
    name = f"relay-test-{uuid.uuid4().hex[:8]}"
    yield name
    with pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url)) as connection:
        channel = connection.channel()
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(name + suffix)


def drain_queue(settings, queue: str) -> list[dict]:
    with pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url)) as connection:
        channel = connection.channel()
        bodies = []
        while (got := channel.basic_get(queue, auto_ack=True))[0] is not None:
            bodies.append(json.loads(got[2]))
        return bodies


class RelayThread:
    def __init__(self, settings, queue: str, *, poll_interval: float = 5.0, rabbitmq_url: str | None = None) -> None:
        self.engine = make_engine(settings, pool_size=2)
        self.publisher = BatchPublisher(url=rabbitmq_url or settings.rabbitmq_url, queue_name=queue)
        self.relay = Relay(engine=self.engine, publisher=self.publisher, listen_conninfo=settings.libpq_url,
                           queue_name=queue, batch_size=50, max_batch_size=200, poll_interval=poll_interval)
        self.thread = threading.Thread(target=self.relay.run_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.relay.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the relay did not stop within 10 s"
        self.publisher.close()
        self.engine.dispose()


def unpublished(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.published_at.is_(None)))


def test_a_row_is_published_as_a_dramatiq_message_and_marked(settings, sessions, queue):
    relay = RelayThread(settings, queue)
    try:
        [message_id] = add_commands(sessions, 1)
        wait_until(lambda: unpublished(sessions) == 0, timeout=10, what="the row to be published")
    finally:
        relay.stop()
    [body] = drain_queue(settings, queue)
    with sessions() as session:
        row = session.get(OutboxMessage, message_id)
    assert body["message_id"] == str(message_id)
    assert body["actor_name"] == "start_case" and body["args"] == [str(row.case_id)]
    assert row.published_at is not None and relay.relay.published == 1


def test_notify_wakes_an_idle_relay_long_before_its_poll(settings, sessions, queue):
    relay = RelayThread(settings, queue, poll_interval=30)
    try:
        time.sleep(0.5)  # the relay found nothing and waits on LISTEN
        started = time.monotonic()
        add_commands(sessions, 1)
        wait_until(lambda: unpublished(sessions) == 0, timeout=10, what="the notified row")
        took = time.monotonic() - started
    finally:
        relay.stop()
    assert took < 10  # the poll interval is 30 s: only NOTIFY can explain it
    print(f"\nnotified row published after {took * 1000:.0f} ms")


def test_without_notify_the_poll_still_publishes(settings, sessions, queue):
    relay = RelayThread(settings, queue, poll_interval=0.3)
    try:
        time.sleep(0.5)
        add_commands(sessions, 3, notify=False)
        wait_until(lambda: unpublished(sessions) == 0, timeout=10, what="polled rows")
    finally:
        relay.stop()
    assert len(drain_queue(settings, queue)) == 3


def test_two_relays_publish_each_row_exactly_once(settings, sessions, queue):
    relays = [RelayThread(settings, queue, poll_interval=0.2) for _ in range(2)]
    try:
        time.sleep(0.5)  # both idle on LISTEN: the one commit below wakes them together
        ids = add_commands(sessions, 500)
        wait_until(lambda: unpublished(sessions) == 0, timeout=60, what="500 rows")
    finally:
        for relay in relays:
            relay.stop()
    bodies = drain_queue(settings, queue)
    assert sorted(body["message_id"] for body in bodies) == sorted(str(i) for i in ids)
    shares = [relay.relay.published for relay in relays]
    assert sum(shares) == 500 and all(shares), shares  # both took a share, none twice
    print(f"\nshares of 500 rows: {shares}")


def test_a_row_committed_late_is_not_skipped(settings, sessions, engine, queue):
    """The gap trap: a row with a lower seq whose transaction commits after later rows were published."""
    relay = RelayThread(settings, queue, poll_interval=0.2)
    try:
        with engine.connect() as slow:
            [first] = add_commands(sessions, 1)  # its case carries the slow row too
            case_id = slow.execute(text("SELECT case_id FROM outbox WHERE id = :id"), {"id": first}).scalar()
            late = uuid.uuid4()
            slow.execute(text("INSERT INTO outbox (id, case_id, kind, publish_attempts) "
                              "VALUES (:id, :case, 'start', 0)"), {"id": late, "case": case_id})
            later = add_commands(sessions, 5)
            wait_until(lambda: unpublished(sessions) == 0, timeout=10, what="the later rows")
            slow.commit()
        wait_until(lambda: unpublished(sessions) == 0, timeout=10, what="the late row")
    finally:
        relay.stop()
    published = {body["message_id"] for body in drain_queue(settings, queue)}
    assert str(late) in published and {str(i) for i in later} <= published
    with sessions() as session:
        seq = dict(session.execute(select(OutboxMessage.id, OutboxMessage.seq)).all())
    assert seq[late] < min(seq[i] for i in later)  # the late row really sat in a gap behind them


def test_while_rabbitmq_is_away_rows_wait_and_then_drain(settings, sessions, queue):
    proxy = Proxy.in_front_of(settings.rabbitmq_url)
    relay = RelayThread(settings, queue, poll_interval=0.2, rabbitmq_url=proxy.route(settings.rabbitmq_url))
    try:
        proxy.cut()
        add_commands(sessions, 10)
        wait_until(lambda: _attempted(sessions), timeout=20, what="a failed publish to be recorded")
        assert unpublished(sessions) == 10
        proxy.restore()
        wait_until(lambda: unpublished(sessions) == 0, timeout=30, what="the outbox to drain after the outage")
    finally:
        relay.stop()
        proxy.close()
    assert len({body["message_id"] for body in drain_queue(settings, queue)}) == 10


def _attempted(sessions) -> bool:
    with sessions() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.publish_attempts > 0)).first()
        return row is not None and row.last_error is not None


def test_when_postgres_comes_back_the_relay_listens_and_drains_again(settings, sessions, queue):
    proxy = Proxy.in_front_of(settings.database_url)
    through_proxy = settings.model_copy(update={"database_url": proxy.route(settings.database_url)})
    relay = RelayThread(through_proxy, queue, poll_interval=30)  # only a NOTIFY can explain a quick publish
    try:
        wait_until(lambda: listeners(sessions) == 1, timeout=10, what="the relay to LISTEN")
        proxy.cut()
        wait_until(lambda: listeners(sessions) == 0, timeout=10, what="the relay's listener to drop")
        add_commands(sessions, 3)  # committed while the relay cannot reach Postgres
        time.sleep(1)
        proxy.restore()
        wait_until(lambda: unpublished(sessions) == 0, timeout=20, what="the rows missed during the outage")
        wait_until(lambda: listeners(sessions) == 1, timeout=20, what="the relay to LISTEN again")
        add_commands(sessions, 2)
        wait_until(lambda: unpublished(sessions) == 0, timeout=10, what="a notified row after the outage")
    finally:
        relay.stop()
        proxy.close()
    assert len({body["message_id"] for body in drain_queue(settings, queue)}) == 5


def listeners(sessions) -> int:
    with sessions() as session:
        return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigil-relay' "
                                   "AND datname = current_database()"))


def test_a_row_of_an_unknown_kind_does_not_hold_up_the_rows_behind_it(settings, sessions, engine, queue):
    [first] = add_commands(sessions, 1, notify=False)
    stranger = uuid.uuid4()
    with engine.begin() as conn:  # as a newer api might write it during a rolling deploy
        conn.execute(text("INSERT INTO outbox (id, case_id, kind, publish_attempts) "
                          "SELECT :id, case_id, 'escalate', 0 FROM outbox WHERE id = :first"),
                     {"id": stranger, "first": first})
    behind = add_commands(sessions, 3)
    relay = RelayThread(settings, queue, poll_interval=0.2)
    try:
        wait_until(lambda: unpublished(sessions) == 1, timeout=10, what="every row but the stranger")
    finally:
        relay.stop()
    with sessions() as session:
        row = session.get(OutboxMessage, stranger)
    assert row.published_at is None and row.publish_attempts > 0 and "escalate" in row.last_error
    assert {body["message_id"] for body in drain_queue(settings, queue)} == {str(i) for i in [first, *behind]}


def test_vigil_relay_stops_cleanly_on_sigterm(settings, sessions, queue):
    process = Process("relay", ["relay"], settings_env(settings.model_copy(update={"queue_name": queue})))
    try:
        add_commands(sessions, 3)
        wait_until(lambda: unpublished(sessions) == 0, timeout=20, what="the relay process to publish")
    finally:
        process.stop()
    assert process.popen.returncode == 0, process.log()
    assert "relay stopped after publishing 3 message(s)" in process.log()


def relay_in_hand(settings, queue: str, *, rabbitmq_url: str | None = None, **publisher) -> Relay:
    """A relay the test drives pass by pass (`drain()`), so a broken batch surfaces as an error."""
    return Relay(engine=make_engine(settings, pool_size=1), listen_conninfo=settings.libpq_url, queue_name=queue,
                 publisher=BatchPublisher(url=rabbitmq_url or settings.rabbitmq_url, queue_name=queue, **publisher),
                 batch_size=100, max_batch_size=400, poll_interval=1)


def close(relay: Relay) -> None:
    relay._publisher.close()
    relay._engine.dispose()


def published_ids(sessions) -> set[str]:
    with sessions() as session:
        return {str(i) for i in session.scalars(select(OutboxMessage.id).where(OutboxMessage.published_at.is_not(None)))}


def test_a_backlog_goes_out_in_batches_each_confirmed_and_read_by_dramatiq(settings, sessions, queue):
    ids = add_commands(sessions, 1000, notify=False)
    relay = relay_in_hand(settings, queue)
    try:
        assert relay.drain() == 1000  # claims of 100, 200, 400, 300: all sent, then their confirms awaited
    finally:
        close(relay)
    assert unpublished(sessions) == 0
    # What a Dramatiq worker sees: its own broker declares the queue (same arguments, or RabbitMQ
    # would refuse) and decodes every message.
    broker = RabbitmqBroker(url=settings.rabbitmq_url, max_priority=MAX_PRIORITY)
    try:
        consumer = broker.consume(queue, prefetch=1000, timeout=500)
        got = {}
        for proxy in consumer:
            if proxy is None:
                break
            got[proxy.message_id] = (proxy.actor_name, proxy.args, proxy.queue_name)
            consumer.ack(proxy)
        consumer.close()
    finally:
        broker.close()
    with sessions() as session:
        case_of = {str(i): str(c) for i, c in session.execute(select(OutboxMessage.id, OutboxMessage.case_id))}
    assert got == {str(i): ("start_case", (case_of[str(i)],), queue) for i in ids}


def test_rows_the_broker_nacks_stay_unpublished_with_the_attempt_recorded(settings, sessions, queue):
    # A policy (not a queue argument, so Dramatiq's declaration still matches) makes RabbitMQ nack
    # every publish beyond three ready messages.
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        pytest.skip("needs rabbitmqctl to set a queue policy")
    policy = f"nack-{queue}"
    subprocess.run([rabbitmqctl, "set_policy", "--apply-to", "queues", policy, f"^{re.escape(queue)}$",
                    '{"max-length": 3, "overflow": "reject-publish"}'], check=True, capture_output=True)
    ids = add_commands(sessions, 10, notify=False)
    relay = relay_in_hand(settings, queue)
    try:
        with pytest.raises(BatchInterrupted) as interrupted:
            relay.drain()
    finally:
        close(relay)
        subprocess.run([rabbitmqctl, "clear_policy", policy], check=True, capture_output=True)
    assert isinstance(interrupted.value.cause, aiormq.exceptions.DeliveryError)
    queued = {body["message_id"] for body in drain_queue(settings, queue)}
    assert published_ids(sessions) == queued == {str(i) for i in ids[:3]}  # the acked ones, and only those
    assert relay.published == 3
    with sessions() as session:
        rest = session.scalars(select(OutboxMessage).where(OutboxMessage.published_at.is_(None))).all()
    assert len(rest) == 7 and all(row.publish_attempts == 1 and "DeliveryError" in row.last_error for row in rest)


def test_when_the_connection_dies_mid_batch_exactly_the_confirmed_rows_are_marked(settings, sessions, queue):
    tripwire = Tripwire.in_front_of(settings.rabbitmq_url)
    relay = relay_in_hand(settings, queue, rabbitmq_url=tripwire.route(settings.rabbitmq_url))
    try:
        [before] = add_commands(sessions, 1, notify=False)
        assert relay.drain() == 1  # connected, queues declared
        ids = add_commands(sessions, 100, notify=False)
        # About a dozen messages reach the broker whole; the rest of the batch never does, and a
        # second later the connection is gone with their confirms outstanding.
        tripwire.arm(after_bytes=5000, close_after=1.0)
        with pytest.raises(BatchInterrupted):
            relay.drain()
    finally:
        close(relay)
        tripwire.close()
    queued = {body["message_id"] for body in drain_queue(settings, queue)}
    marked = published_ids(sessions) & {str(i) for i in ids}
    assert 0 < len(marked) < 100
    assert marked == queued - {str(before)}  # what the broker has and confirmed is marked, nothing else
    with sessions() as session:
        attempts = session.scalars(select(OutboxMessage.publish_attempts)
                                   .where(OutboxMessage.published_at.is_(None))).all()
    assert len(attempts) == 100 - len(marked) and set(attempts) == {1}


def test_the_relay_process_exposes_its_metrics(settings, sessions, engine, queue):
    port = free_port()
    stuck_kind = uuid.uuid4()
    [first] = add_commands(sessions, 1, notify=False)
    with engine.begin() as conn:  # a row no relay can publish: the outbox's oldest row ages
        conn.execute(text("INSERT INTO outbox (id, case_id, kind, publish_attempts, created_at) "
                          "SELECT :id, case_id, 'escalate', 0, now() - interval '1 minute' FROM outbox WHERE id = :first"),
                     {"id": stuck_kind, "first": first})
    add_commands(sessions, 4)
    env = settings_env(settings.model_copy(update={"queue_name": queue, "relay_metrics_port": port}))
    process = Process("relay-metrics", ["relay"], env)
    try:
        wait_until(lambda: unpublished(sessions) == 1, timeout=20, what="the relay to publish 5 rows")

        def scraped() -> dict:
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            return {(s.name, tuple(sorted(s.labels.items()))): s.value
                    for family in text_string_to_metric_families(body) for s in family.samples}

        def refreshed_after_publishing() -> bool:
            now = scraped()
            return now.get(("vigil_rabbitmq_queue_messages", (("queue", queue),))) == 5 \
                and now.get(("vigil_outbox_unpublished", ())) == 1

        wait_until(refreshed_after_publishing, timeout=20, what="the gauges to be refreshed")
        metrics = scraped()
    finally:
        process.stop()
    assert metrics[("vigil_relay_messages_published_total", ())] == 5
    assert metrics[("vigil_relay_publish_batch_seconds_count", ())] >= 1
    assert metrics[("vigil_outbox_unpublished", ())] == 1
    assert metrics[("vigil_outbox_oldest_unpublished_age_seconds", ())] >= 60
    assert metrics[("vigil_cases", (("status", "received"),))] == 5
    assert metrics[("vigil_cases", (("status", "closed"),))] == 0


def test_urgent_cases_are_handed_out_first_when_a_backlog_builds(settings, sessions, queue):
    """Messages carry their case's priority and the queue is a priority queue: with nobody consuming,
    the most urgent case comes out first whatever order the commands were written in."""
    ids = add_commands(sessions, 4)
    with sessions.begin() as session:
        cases = session.execute(select(OutboxMessage.case_id).where(OutboxMessage.id.in_(ids))
                                .order_by(OutboxMessage.seq)).scalars().all()
        for case_id, priority in zip(cases, (0, 20, 40, 10)):
            session.execute(text("UPDATE cases SET priority = :p WHERE id = :id"), {"p": priority, "id": case_id})
    relay = relay_in_hand(settings, queue)
    try:
        assert relay.drain() == 4
    finally:
        close(relay)
    handed_out = [body["args"][0] for body in drain_queue(settings, queue)]
    assert handed_out == [str(cases[2]), str(cases[1]), str(cases[3]), str(cases[0])]
