"""The relay loop. Claims unpublished outbox rows with FOR UPDATE SKIP LOCKED (so several relays
share the work), publishes each with a publisher confirm, marks the confirmed ones published.

It never pages by `seq > last_seen`: a sequence is not commit order, and a row of a transaction
that commits late would be skipped. Every pass takes whatever is unpublished. NOTIFY only wakes
the relay early; the poll interval guarantees progress when a notification is lost.
"""

import logging
import random
import threading
from datetime import UTC, datetime

import dramatiq
import psycopg
from sqlalchemy import Engine, select, update

from shared.contracts import command_message
from shared.db import OUTBOX_CHANNEL
from shared.models import OutboxMessage

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        *,
        engine: Engine,
        broker: dramatiq.Broker,
        listen_conninfo: str,
        queue_name: str,
        batch_size: int,
        poll_interval: float,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._listen_conninfo = listen_conninfo
        self._queue_name = queue_name
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._listener: psycopg.Connection | None = None
        self._stopping = threading.Event()
        self.published = 0

    def stop(self) -> None:
        self._stopping.set()

    def run_forever(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if self.drain() == 0:
                    self._wait_for_news()
                failures = 0
            except Exception as error:  # broker or database away: keep the rows, back off, try again
                failures += 1
                self._close_listener()
                delay = min(5.0, 0.2 * 2 ** min(failures, 5)) * random.uniform(0.5, 1.0)
                log.warning("relay pass failed (%s: %s); retrying in %.1fs", type(error).__name__, error, delay)
                self._stopping.wait(delay)
        self._close_listener()

    def drain(self) -> int:
        """Publish until nothing is left; returns how many rows this call published."""
        total = 0
        while not self._stopping.is_set():
            count = self._publish_batch()
            total += count
            if count < self._batch_size:
                break
        return total

    def _publish_batch(self) -> int:
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(OutboxMessage.id, OutboxMessage.case_id, OutboxMessage.kind)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.seq)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            confirmed, failure = [], None
            try:
                for row in rows:
                    message = command_message(message_id=row.id, case_id=row.case_id, kind=row.kind,
                                              queue_name=self._queue_name)
                    self._broker.enqueue(message)  # returns once RabbitMQ confirmed it
                    confirmed.append(row.id)
            except Exception as error:  # the broker went away mid-batch: keep what it confirmed
                failure = error
                unconfirmed = [row.id for row in rows[len(confirmed):]]
                conn.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(unconfirmed))
                    .values(publish_attempts=OutboxMessage.publish_attempts + 1, last_error=repr(error)[:1000])
                )
            if confirmed:
                conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(confirmed))
                             .values(published_at=datetime.now(UTC)))
        self.published += len(confirmed)
        if failure is not None:
            raise failure  # after the commit: the confirmed rows stay published
        if confirmed:
            log.info("published %d outbox message(s)", len(confirmed))
        return len(confirmed)

    def _wait_for_news(self) -> None:
        if self._listener is None:
            self._listener = psycopg.connect(self._listen_conninfo, autocommit=True, connect_timeout=2)
            self._listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        for _ in self._listener.notifies(timeout=self._poll_interval, stop_after=1):
            pass

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

