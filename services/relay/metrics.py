"""The relay's Prometheus metrics: what it publishes as it goes, and gauges of the backlog (outbox,
queue, cases by status) refreshed by a thread of their own, so they stay current while the relay
is busy draining or waits on a broker that is away.

Every relay reports the same backlog gauges; with several relays take their max, not their sum.
"""

import logging
import threading
import time

import sqlalchemy.exc
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, text

from shared.domain import Status
from services.relay.publisher import BatchPublisher

log = logging.getLogger(__name__)

PUBLISHED = Counter("vigil_relay_messages_published", "Outbox messages confirmed by RabbitMQ and marked published")
PUBLISH_FAILURES = Counter("vigil_relay_publish_failures", "Outbox messages RabbitMQ did not confirm (to be retried)")
BATCH_SECONDS = Histogram("vigil_relay_publish_batch_seconds", "Publishing one batch and awaiting its confirms",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
OUTBOX_DEPTH = Gauge("vigil_outbox_unpublished", "Outbox rows not yet published")
OUTBOX_OLDEST_AGE = Gauge("vigil_outbox_oldest_unpublished_age_seconds",
                          "Age of the oldest unpublished outbox row (0 when none)")
QUEUE_DEPTH = Gauge("vigil_rabbitmq_queue_messages", "Messages ready in the work queue", ["queue"])
CASES = Gauge("vigil_cases", "Cases by status", ["status"])

# One pass over the partial index ix_outbox_unpublished: cheap while the relay keeps up; with a
# backlog of millions it reads them all, every few seconds, which is then the least of the worries.
OUTBOX_BACKLOG = text("SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                      "FROM outbox WHERE published_at IS NULL")
# A full count: about a second per ten million cases (an index-only scan of ix_cases_status_seq
# at best); hence its own, longer period.
CASES_BY_STATUS = text("SELECT status, count(*) FROM cases GROUP BY status")


class BacklogGauges:
    """Refreshes the gauges every `interval` seconds (cases every `cases_interval`) on a thread."""

    def __init__(self, *, engine: Engine, publisher: BatchPublisher, queue_name: str, interval: float = 5.0,
                 cases_interval: float = 10.0) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queue_name = queue_name
        self._interval = interval
        self._cases_interval = cases_interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-gauges", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)

    def refresh(self, *, with_cases: bool = True) -> None:
        try:
            with self._engine.connect() as conn:
                depth, age = conn.execute(OUTBOX_BACKLOG).one()
                OUTBOX_DEPTH.set(depth)
                OUTBOX_OLDEST_AGE.set(float(age))
                if with_cases:
                    counts = dict(conn.execute(CASES_BY_STATUS).all())
                    for status in Status:
                        CASES.labels(status=str(status)).set(counts.get(str(status), 0))
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as error:
            log.warning("could not read the outbox backlog: %s", error)
        try:
            QUEUE_DEPTH.labels(queue=self._queue_name).set(self._publisher.queue_depth())
        except CONNECTION_EXCEPTIONS as error:  # broker away: the last value stays, the relay logs it
            log.debug("could not read the queue depth: %r", error)

    def _run(self) -> None:
        next_cases = 0.0
        while not self._stopping.is_set():
            with_cases = time.monotonic() >= next_cases
            self.refresh(with_cases=with_cases)
            if with_cases:
                next_cases = time.monotonic() + self._cases_interval
            self._stopping.wait(self._interval)
