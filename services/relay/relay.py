"""The relay loop. Claims unpublished outbox rows with FOR UPDATE SKIP LOCKED (so several relays
share the work), publishes the batch and awaits its publisher confirms together, marks the
confirmed ones published, all in one transaction per batch.

It never pages by `seq > last_seen`: a sequence is not commit order, and a row of a transaction
that commits late would be skipped. Every pass takes whatever is unpublished. NOTIFY only wakes
the relay early; the poll interval guarantees progress when a notification is lost, and right
after a drain that found work the relay looks again after a short pause, so it keeps up even when
the writers stop notifying at a high rate.
"""

import logging
import threading
import time

import psycopg
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, text

from shared import backoff
from shared.contracts import command_message
from shared.db import OUTBOX_CHANNEL
from services.relay import metrics
from services.relay.publisher import BatchInterrupted, BatchPublisher

log = logging.getLogger(__name__)

# What an outage of RabbitMQ or Postgres looks like from here. Anything else is a bug, and a bug
# should stop the process loudly rather than spin in a retry loop.
TRANSIENT = (
    BatchInterrupted,
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,
    psycopg.Error,
    OSError,
)
LISTENER_NAME = "vigil-relay"
STOP_CHECK_SECONDS = 0.5  # how long a stop request may wait while the relay sleeps on LISTEN
# After a drain that found work, look again this soon even without a NOTIFY: under load the
# writers may not notify every commit, and waiting a whole poll interval would let rows age.
BUSY_POLL_SECONDS = 0.05

# Oldest first by seq; rows locked by another relay are skipped, never waited for.
# Ids travel as text and as one array literal: building thousands of UUID objects per second
# and adapting them one by one cost more CPU than the publishing itself.
CLAIM = text("SELECT o.id::text, o.case_id::text, o.kind, c.priority FROM outbox o JOIN cases c ON c.id = o.case_id"
             " WHERE o.published_at IS NULL ORDER BY o.seq LIMIT :limit FOR UPDATE OF o SKIP LOCKED")
MARK_PUBLISHED = text("UPDATE outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS uuid[]))")
RECORD_ATTEMPT = text("UPDATE outbox SET publish_attempts = publish_attempts + 1, last_error = :error "
                      "WHERE id = ANY(CAST(:ids AS uuid[]))")


class Relay:
    def __init__(
        self,
        *,
        engine: Engine,
        publisher: BatchPublisher,
        listen_conninfo: str,
        queue_name: str,
        batch_size: int,
        poll_interval: float,
        max_batch_size: int | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._listen_conninfo = listen_conninfo
        self._queue_name = queue_name
        self._batch_size = batch_size
        self._max_batch_size = max(batch_size, max_batch_size or batch_size)
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
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
                    found_work = self.drain() > 0
                    self._wait_for_news(BUSY_POLL_SECONDS if found_work else self._poll_interval)
                    failures = 0
                except TRANSIENT as error:  # broker or database away: keep the rows, back off, retry
                    failures += 1
                    self._close_listener()
                    delay = backoff.delay(attempts=failures, base=0.4, cap=self._max_backoff)
                    log.warning("relay pass failed (%s: %s); retrying in %.1fs", type(error).__name__, error, delay)
                    self._stopping.wait(delay)
        finally:
            self._close_listener()

    def drain(self) -> int:
        """Publish until nothing is left; returns how many rows this call published.

        While batches come back full a backlog exists: each claim doubles, up to the maximum, so a
        backlog costs fewer transactions and confirm waits; the first short batch ends the drain."""
        total = 0
        limit = self._batch_size
        while not self._stopping.is_set():
            claimed, confirmed = self._relay_batch(limit)
            total += confirmed
            if claimed < limit or confirmed == 0:
                break
            limit = min(limit * 2, self._max_batch_size)
        return total

    def _relay_batch(self, limit: int) -> tuple[int, int]:
        """One claim-publish-mark transaction; returns (rows claimed, rows published)."""
        failure: BatchInterrupted | None = None
        with self._engine.begin() as conn:
            rows = conn.execute(CLAIM, {"limit": limit}).all()
            messages = []
            for row in rows:
                try:
                    messages.append(command_message(message_id=row.id, case_id=row.case_id, kind=row.kind,
                                                    queue_name=self._queue_name, case_priority=row.priority))
                except (KeyError, ValueError) as error:
                    # An unknown kind (a newer api during a rolling deploy) must not block the rows
                    # behind it: note it on the row, leave it for a relay that knows the kind.
                    log.error("outbox row %s has kind %r that this relay cannot publish", row.id, row.kind)
                    _record_attempt(conn, [row.id], error)
            started = time.perf_counter()
            try:
                confirmed = self._publisher.publish(messages)  # all sent, then all confirms awaited
            except BatchInterrupted as interrupted:
                confirmed, failure = interrupted.confirmed, interrupted
                unconfirmed = {m.message_id for m in messages} - set(confirmed)
                _record_attempt(conn, sorted(unconfirmed), interrupted.cause)
                metrics.PUBLISH_FAILURES.inc(len(unconfirmed))
            if messages:
                metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            # The same transaction marks what RabbitMQ confirmed even when the batch broke off:
            # rolling back would only publish those messages a second time.
            if confirmed:
                conn.execute(MARK_PUBLISHED, {"ids": _array(confirmed)})
        self.published += len(confirmed)
        metrics.PUBLISHED.inc(len(confirmed))
        if failure is not None:
            raise failure
        if confirmed:
            log.debug("published %d outbox message(s)", len(confirmed))
        return len(rows), len(confirmed)

    def _ensure_listening(self) -> None:
        if self._listener is None:
            self._listener = psycopg.connect(
                self._listen_conninfo, autocommit=True, connect_timeout=2, application_name=LISTENER_NAME,
                # a connection cut without a FIN is noticed in ~30 s instead of never
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=4,
            )
            self._listener.execute(f"LISTEN {OUTBOX_CHANNEL}")

    def _wait_for_news(self, timeout: float) -> None:
        """Sleep until a NOTIFY, the timeout, or a stop request, whichever comes first."""
        assert self._listener is not None
        deadline = time.monotonic() + timeout
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


def _record_attempt(conn: Connection, ids: list[str], error: BaseException) -> None:
    if ids:
        conn.execute(RECORD_ATTEMPT, {"ids": _array(ids), "error": repr(error)[:1000]})


def _array(ids: list[str]) -> str:
    return "{" + ",".join(ids) + "}"  # uuids in their text form need no quoting
