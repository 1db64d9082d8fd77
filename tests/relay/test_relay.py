"""The relay against the real Postgres and RabbitMQ."""

import json
import threading
import time
import uuid

import pika
import pytest
from sqlalchemy import func, select, text

from shared.broker import make_broker
from shared.db import enqueue, make_engine, transaction
from shared.domain import CommandKind, Status
from shared.models import Case, OutboxMessage
from services.relay.relay import Relay
from tests.support.processes import Process, settings_env, wait_until
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


def add_commands(sessions, count: int, *, notify: bool = True) -> list[uuid.UUID]:
    ids = []
    with transaction(sessions) as session:
        for _ in range(count):
            case = Case(external_id=uuid.uuid4().hex, content={"text": "t", "author_id": "u"}, meta={},
                        status=Status.RECEIVED, created_by="test")
            session.add(case)
            session.flush()
            if notify:
                ids.append(enqueue(session, case_id=case.id, kind=CommandKind.START).id)
            else:
                message = OutboxMessage(id=uuid.uuid4(), case_id=case.id, kind=CommandKind.START)
                session.add(message)
                ids.append(message.id)
    return ids


class RelayThread:
    def __init__(self, settings, queue: str, *, poll_interval: float = 5.0, rabbitmq_url: str | None = None) -> None:
        self.engine = make_engine(settings, pool_size=2)
        self.broker = make_broker(settings.model_copy(update={"rabbitmq_url": rabbitmq_url or settings.rabbitmq_url}))
        self.relay = Relay(engine=self.engine, broker=self.broker, listen_conninfo=settings.libpq_url, queue_name=queue,
                           batch_size=50, poll_interval=poll_interval)
        self.thread = threading.Thread(target=self.relay.run_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.relay.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the relay did not stop within 10 s"
        self.broker.close()
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


def test_a_case_whose_message_was_lost_is_nudged_once(settings, sessions, engine):
    from services.relay.sweeper import nudge_stuck_cases

    [message_id] = add_commands(sessions, 1)
    with engine.begin() as conn:  # the message went out long ago and never arrived
        conn.execute(text("UPDATE outbox SET published_at = now() - interval '1 hour' WHERE id = :id"), {"id": message_id})
        conn.execute(text("UPDATE cases SET status = 'analyzing', updated_at = now() - interval '1 hour'"))
    add_commands(sessions, 1)  # a case that just arrived is left alone
    with engine.begin() as conn:
        assert nudge_stuck_cases(conn, stuck_after_seconds=600) == 1
    with engine.begin() as conn:
        assert nudge_stuck_cases(conn, stuck_after_seconds=600) == 0  # its nudge is on its way now
    with sessions() as session:
        kinds = session.execute(text("SELECT kind FROM outbox o JOIN cases c ON c.id = o.case_id "
                                     "WHERE c.status = 'analyzing' ORDER BY o.seq")).scalars().all()
        events = session.execute(text("SELECT event, actor FROM audit_events")).all()
    assert kinds == ["start", "retry"]
    assert events == [("case_nudged", "system:relay")]
