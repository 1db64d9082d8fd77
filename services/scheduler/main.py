"""`vigil scheduler`: runs every timed rule every `SCHEDULER_INTERVAL` seconds until SIGTERM.

Safe to run several: each rule takes only rows no other scheduler holds (SKIP LOCKED). Its timers
are columns in Postgres (`due_at`, `claim_expires_at`, `updated_at`, `appealable_until`, `final_at`,
the events' `occurred_at`), so a restart loses nothing: whatever fell due meanwhile is handled on
the first pass."""

import logging
import signal
import threading

import sqlalchemy.exc
from sqlalchemy import Engine, text

from shared import backoff
from shared.db import make_engine
from shared.metrics import serve_metrics
from shared.desk import write_review_targets
from shared.settings import Settings
from services.scheduler import metrics
from services.scheduler.finality import close_appeal_windows
from services.scheduler.quality import ErrorRateGauges, top_up_samples
from services.scheduler.retention import purge_final_cases, purge_settled_events
from services.scheduler.rules import escalate_overdue, expire_claims
from services.scheduler.stuck import nudge_stuck_cases

log = logging.getLogger(__name__)
OVERDUE = text("SELECT count(*) FROM cases WHERE status = 'awaiting_review' AND due_at <= now()")  # ix_cases_due


class Scheduler:
    def __init__(self, *, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._stopping = threading.Event()
        self._gauges = ErrorRateGauges()

    def stop(self) -> None:
        self._stopping.set()

    def run_once(self) -> dict[str, int]:
        """One pass of every rule, each in its own transaction; returns how many rows each moved."""
        settings = self._settings
        done = {}
        with self._engine.begin() as conn:
            done["escalated"] = escalate_overdue(conn, step=settings.escalation_step,
                                                 to_supervisors=settings.escalate_to_supervisors)
        with self._engine.begin() as conn:
            done["claims_expired"] = expire_claims(conn)
        with self._engine.begin() as conn:
            done["nudged"] = nudge_stuck_cases(conn, stuck_after_seconds=settings.stuck_after_seconds)
            metrics.OVERDUE.set(conn.execute(OVERDUE).scalar())
        with self._engine.begin() as conn:
            done["finalized"], pruned = close_appeal_windows(conn)
        metrics.PURGED.labels("checkpoints").inc(pruned)
        with self._engine.begin() as conn:
            purged = purge_final_cases(conn, keep_days=settings.audit_retention_days)
        done["purged"] = purged.cases
        with self._engine.begin() as conn:
            events = purge_settled_events(conn, keep_days=settings.events_retention_days)
        done["events_purged"] = events.rows["case_events"]
        for table, rows in {**purged.rows, **events.rows}.items():
            metrics.PURGED.labels(table).inc(rows)
        with self._engine.begin() as conn:
            done["qa_topped_up"] = top_up_samples(conn, minimum=settings.qa_daily_minimum)
            self._gauges.publish(conn)
        metrics.PASSES.inc()
        for rule, rows in done.items():
            metrics.APPLIED.labels(rule).inc(rows)
        if any(done.values()):
            log.info("scheduler pass: %s", done)
        return done

    def run_forever(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self.run_once()
                failures = 0
                self._stopping.wait(self._settings.scheduler_interval)
            except sqlalchemy.exc.DBAPIError as error:  # Postgres away: nothing is lost, try again
                failures += 1
                delay = backoff.delay(attempts=failures, base=1.0, cap=30.0)
                log.warning("scheduler pass failed (%s); retrying in %.1fs", type(error).__name__, delay)
                self._stopping.wait(delay)


def run(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=1)
    with engine.begin() as conn:  # the deadlines the one writer gives cases entering review
        write_review_targets(conn.connection.driver_connection, settings.review_target_durations)
    scheduler = Scheduler(engine=engine, settings=settings)
    serve_metrics(settings.scheduler_metrics_port, component="scheduler")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: scheduler.stop())
    log.info("scheduler running every %.1fs", settings.scheduler_interval)
    try:
        scheduler.run_forever()
    finally:
        engine.dispose()
