"""Retention: a final case is kept whole for AUDIT_RETENTION_DAYS, then purged with everything
attached (the audit log lets only that purge delete); settled events go after
EVENTS_RETENTION_DAYS, pending ones stay."""

import logging
import uuid

import pytest
from prometheus_client import REGISTRY
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared import events
from shared.db import transaction
from services.scheduler.main import Scheduler
from services.scheduler.retention import ARM, purge_settled_events
from tests.support.arrange import case_row
from tests.support.finality import closed_case, record_rows, runner_with_window, thread_rows, window_passed
from tests.support.processes import wait_until

EVERYTHING = ("audit_events", "decisions", "actions", "statements", "case_events", "outbox", "message_attempts")


def subscriber(engine, *, events_: list[str] = ("*",)) -> uuid.UUID:
    webhook_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO webhooks (id, url, events, secret, created_by) "
                          "VALUES (:id, 'http://127.0.0.1:9/hook', :events, 'secret', 'admin')"),
                     {"id": webhook_id, "events": list(events_)})
    return webhook_id


def purged(table: str) -> float:
    return REGISTRY.get_sample_value("vigil_retention_rows_purged_total", {"table": table}) or 0.0


@pytest.fixture
def final_case(settings, fresh_platform, runner, sessions, engine):
    """A decided case made final by the scheduler (its subscriber heard everything), and one still open."""
    subscriber(engine)
    with runner_with_window(settings, seconds=0.5) as short:
        case_id = closed_case(short, sessions)
    open_case = closed_case(runner, sessions)
    wait_until(lambda: window_passed(engine, case_id), timeout=10, what="the half-second window to pass")
    assert Scheduler(engine=engine, settings=settings).run_once()["finalized"] == 1
    return case_id, open_case


def test_a_final_case_is_kept_for_the_retention_period(final_case, settings, engine, sessions):
    case_id, _ = final_case
    before = record_rows(engine, case_id, EVERYTHING)
    assert Scheduler(engine=engine, settings=settings).run_once()["purged"] == 0  # 5 years by default
    assert case_row(sessions, case_id) is not None and record_rows(engine, case_id, EVERYTHING) == before


def test_after_the_retention_period_a_final_case_is_purged_with_everything_attached(
        final_case, settings, engine, sessions, caplog):
    case_id, open_case = final_case
    kept = record_rows(engine, open_case, EVERYTHING)
    held = record_rows(engine, case_id, EVERYTHING)
    with engine.connect() as conn:
        deliveries = conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE case_id = :c"),
                                  {"c": case_id}).scalar()
    assert held["audit_events"] > 0 and held["actions"] == 2 and deliveries > 0
    audit_purged = purged("audit_events")
    short = settings.model_copy(update={"audit_retention_days": 0.1 / 86400})  # a tenth of a second

    wait_until(lambda: final_for_longer_than(engine, case_id, seconds=0.1), timeout=10,
               what="the case to be final for longer than the retention period")
    with caplog.at_level(logging.INFO, logger="services.scheduler.retention"):
        assert Scheduler(engine=engine, settings=short).run_once()["purged"] == 1

    assert case_row(sessions, case_id) is None
    assert record_rows(engine, case_id, EVERYTHING) == dict.fromkeys(EVERYTHING, 0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE case_id = :c"),
                            {"c": case_id}).scalar() == 0
    assert thread_rows(engine, case_id)["checkpoints"] == 0
    # The case not yet final is untouched, its thread too.
    assert record_rows(engine, open_case, EVERYTHING) == kept and thread_rows(engine, open_case)["checkpoints"] > 0
    # The purge's own record: a log line with the counts, and the metrics.
    assert f"{held['audit_events']} audit_events" in caplog.text and "purged 1 case(s)" in caplog.text
    assert purged("audit_events") - audit_purged == held["audit_events"]


def final_for_longer_than(engine, case_id, *, seconds: float) -> bool:
    with engine.connect() as conn:  # a transaction of its own: now() is its start
        return conn.execute(text("SELECT final_at <= now() - make_interval(secs => :s) FROM cases WHERE id = :c"),
                            {"c": case_id, "s": seconds}).scalar()


def test_the_audit_log_refuses_deletes_outside_the_purge_and_updates_always(case_in, engine):
    case_id = case_in("closed")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (case_id, actor, event) VALUES (:c, 'mod-ana', 'note')"),
                     {"c": case_id})
    with engine.begin() as conn:
        conn.execute(ARM)  # a purge's transaction ends here: the permission ends with it
    for statement in ("DELETE FROM cases WHERE id = :c", "DELETE FROM audit_events WHERE case_id = :c"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement), {"c": case_id})
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(ARM)
            conn.execute(text("UPDATE audit_events SET actor = 'someone else' WHERE case_id = :c"), {"c": case_id})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_events WHERE case_id = :c"), {"c": case_id}).scalars().all() == [
            "mod-ana"]


def emit(engine, case_id, key: str) -> uuid.UUID:
    with engine.begin() as conn:
        conn.exec_driver_sql(events.EMIT, {"case_id": case_id, "type": "case.note", "data": Jsonb({}),
                                           "dedupe_key": key})
        return conn.execute(text("SELECT id FROM case_events WHERE dedupe_key = :k"), {"k": key}).scalar()


def test_settled_events_are_purged_after_their_period_and_pending_ones_kept(case_in, engine, settings):
    first, second = subscriber(engine), subscriber(engine)
    case_id = case_in("closed")
    delivered, dead, pending, half_pending, recent = (emit(engine, case_id, name) for name in
                                                       ("delivered", "dead", "pending", "half", "recent"))
    with engine.begin() as conn:
        settle = text("UPDATE webhook_deliveries SET status = :status WHERE event_id = :e AND webhook_id = ANY(:w)")
        conn.execute(settle, {"status": "delivered", "e": delivered, "w": [first, second]})
        conn.execute(settle, {"status": "dead", "e": dead, "w": [first, second]})
        conn.execute(settle, {"status": "delivered", "e": half_pending, "w": [first]})  # the other still pending
        conn.execute(settle, {"status": "delivered", "e": recent, "w": [first, second]})
        conn.execute(text("UPDATE case_events SET occurred_at = now() - interval '31 days' WHERE id <> :recent"),
                     {"recent": recent})

    assert Scheduler(engine=engine, settings=settings).run_once()["events_purged"] == 2  # 30 days by default
    with engine.connect() as conn:
        left = set(conn.execute(text("SELECT id FROM case_events")).scalars())
        deliveries = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar()
    assert left == {pending, half_pending, recent}
    assert deliveries == 6
    with engine.begin() as conn:
        assert purge_settled_events(conn, keep_days=30).rows == {"case_events": 0, "webhook_deliveries": 0}
