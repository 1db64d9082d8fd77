"""The relay loop. Claims unpublished outbox rows with FOR UPDATE SKIP LOCKED (so several relays
share the work), publishes each with a publisher confirm, marks the confirmed ones published.

It never pages by `seq > last_seen`: a sequence is not commit order, and a row of a transaction
that commits late would be skipped. Every pass takes whatever is unpublished. NOTIFY only wakes
the relay early; the poll interval guarantees progress when a notification is lost.
"""

import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence

import dramatiq
import dramatiq.errors
import pika.exceptions
import psycopg
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, func, select, update

from shared.contracts import command_message
from shared.db import OUTBOX_CHANNEL
from shared.models import OutboxMessage
from services.relay.sweeper import nudge_stuck_cases

log = logging.getLogger(__name__)

# What an outage of RabbitMQ or Postgres looks like from here. Anything else is a bug, and a bug
# should stop the process loudly rather than spin in a retry loop.
TRANSIENT = (
    dramatiq.errors.ConnectionClosed,
    pika.exceptions.AMQPError,
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,
    psycopg.Error,
    OSError,
)
LISTENER_NAME = "vigil-relay"
STOP_CHECK_SECONDS = 0.5  # how long a stop request may wait while the relay sleeps on LISTEN


class BatchInterrupted(Exception):
    """The broker failed part way through a batch; `confirmed` are the ids it did confirm."""

    def __init__(self, *, confirmed: list[uuid.UUID], cause: BaseException) -> None:
        super().__init__(f"publishing stopped after {len(confirmed)} confirmed message(s): {cause!r}")
        self.confirmed = confirmed
        self.cause = cause


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
        max_backoff: float = 5.0,
        stuck_after: float | None = None,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._listen_conninfo = listen_conninfo
        self._queue_name = queue_name
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._stuck_after = stuck_after  # None: this relay does not sweep
        self._next_sweep = time.monotonic()
        self._listener: psycopg.Connection | None = None
        self._stopping = threading.Event()
        self.published = 0  # confirmed and marked by this relay since it started

    def stop(self) -> None:
        """Ask the loop to end once the batch in hand is settled; safe from a signal handler."""
        self._stopping.set()

    def run_forever(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    # LISTEN before draining, so a commit during the drain still wakes the wait.
                    self._ensure_listening()
                    self.drain()
                    self._sweep_when_due()
                    self._wait_for_news()
                    failures = 0
                except TRANSIENT as error:  # broker or database away: keep the rows, back off, retry
                    failures += 1
                    self._close_listener()
                    delay = min(self._max_backoff, 0.2 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                    log.warning("relay pass failed (%s: %s); retrying in %.1fs", type(error).__name__, error, delay)
                    self._stopping.wait(delay)
        finally:
            self._close_listener()

    def drain(self) -> int:
        """Publish until nothing is left; returns how many rows this call published."""
        total = 0
        while not self._stopping.is_set():
            claimed, confirmed = self._relay_batch()
            total += confirmed
            if claimed < self._batch_size or confirmed == 0:
                break
        return total

    def _relay_batch(self) -> tuple[int, int]:
        """One claim-publish-mark transaction; returns (rows claimed, rows published)."""
        failure: BaseException | None = None
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(OutboxMessage.id, OutboxMessage.case_id, OutboxMessage.kind)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.seq)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            messages = []
            for row in rows:
                try:
                    messages.append(command_message(message_id=row.id, case_id=row.case_id, kind=row.kind,
                                                    queue_name=self._queue_name))
                except (KeyError, ValueError) as error:
                    # An unknown kind (a newer api during a rolling deploy) must not block the rows
                    # behind it: note it on the row, leave it for a relay that knows the kind.
                    log.error("outbox row %s has kind %r that this relay cannot publish", row.id, row.kind)
                    _record_attempt(conn, [row.id], error)
            try:
                confirmed = self._publish_batch(messages)
            except BatchInterrupted as interrupted:
                confirmed, failure = interrupted.confirmed, interrupted.cause
                unconfirmed = {uuid.UUID(m.message_id) for m in messages} - set(confirmed)
                _record_attempt(conn, sorted(unconfirmed), failure)
            # The same transaction marks what RabbitMQ confirmed even when the batch broke off:
            # rolling back would only publish those messages a second time.
            if confirmed:
                conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(confirmed))
                             .values(published_at=func.now()))
        self.published += len(confirmed)
        if failure is not None:
            raise failure
        if confirmed:
            log.info("published %d outbox message(s)", len(confirmed))
        return len(rows), len(confirmed)

    def _publish_batch(self, messages: Sequence[dramatiq.Message]) -> list[uuid.UUID]:
        """Publish and return the ids RabbitMQ confirmed, or raise BatchInterrupted.

        Each enqueue waits for its own confirm (confirm_delivery=True), so a batch costs one round
        trip per message. This is the place to publish the whole batch and then wait for all
        confirms together when the relay needs more throughput.
        """
        confirmed: list[uuid.UUID] = []
        for message in messages:
            try:
                self._broker.enqueue(message)  # returns once RabbitMQ confirmed it
            except (dramatiq.errors.ConnectionClosed, pika.exceptions.AMQPError) as error:
                raise BatchInterrupted(confirmed=confirmed, cause=error) from error
            confirmed.append(uuid.UUID(message.message_id))
        return confirmed

    def _sweep_when_due(self) -> None:
        if self._stuck_after is None or time.monotonic() < self._next_sweep:
            return
        with self._engine.begin() as conn:
            nudge_stuck_cases(conn, stuck_after_seconds=self._stuck_after)
        self._next_sweep = time.monotonic() + self._stuck_after / 4

    def _ensure_listening(self) -> None:
        if self._listener is None:
            self._listener = psycopg.connect(
                self._listen_conninfo, autocommit=True, connect_timeout=2, application_name=LISTENER_NAME,
                # a connection cut without a FIN is noticed in ~30 s instead of never
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=4,
            )
            self._listener.execute(f"LISTEN {OUTBOX_CHANNEL}")

    def _wait_for_news(self) -> None:
        """Sleep until a NOTIFY, the poll interval, or a stop request, whichever comes first."""
        assert self._listener is not None
        deadline = time.monotonic() + self._poll_interval
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            woken = False
            for _ in self._listener.notifies(timeout=min(left, STOP_CHECK_SECONDS), stop_after=1):
                woken = True
            if woken:
                # One drain serves every commit that notified so far: swallow the rest of a burst.
                for _ in self._listener.notifies(timeout=0):
                    pass
                return

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except psycopg.Error:
                pass
            self._listener = None


def _record_attempt(conn: Connection, ids: list[uuid.UUID], error: BaseException) -> None:
    if ids:
        conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                     .values(publish_attempts=OutboxMessage.publish_attempts + 1, last_error=repr(error)[:1000]))
