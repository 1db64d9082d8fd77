"""How far the relay falls behind: outbox rows written at a steady rate into a scratch database
while `vigil relay` process(es) publish them, and the age of the oldest unpublished row sampled.

    python -m services.relay.lag --rate 1500 --seconds 60            # steady intake, lag percentiles
    python -m services.relay.lag --backlog 20000                     # publish rate over a backlog

`measure_relay_lag(...)` and `measure_publish_rate(...)` return the figures for the benchmark.
Nothing consumes the queue: it is deleted at the end, like the scratch database.
"""

import argparse
import threading
import time
import uuid
from dataclasses import dataclass

import pika
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from demo.processes import Process, settings_env
from shared.db import OUTBOX_CHANNEL, make_engine, make_sessionmaker, transaction
from shared.domain import CommandKind, Status
from shared.migrate import migrate
from shared.models import Case
from shared.settings import Settings

OLDEST_UNPUBLISHED_AGE = ("SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                          "FROM outbox WHERE published_at IS NULL")
# One statement in autocommit, as the api writes it: the row's created_at (the statement's start)
# is within a round trip of its commit, so the sampled age is the time the relay took.
INSERT_ROW = ("INSERT INTO outbox (id, case_id, kind, publish_attempts) "
              "SELECT gen_random_uuid(), %s, %s, 0 FROM generate_series(1, %s)")
INSERT_ROW_AND_NOTIFY = (f"WITH row AS ({INSERT_ROW} RETURNING 1) "
                         f"SELECT pg_notify('{OUTBOX_CHANNEL}', '') FROM row")


@dataclass(frozen=True)
class LagReport:
    rate_asked: float
    rate_written: float
    seconds: float
    relays: int
    ages: list[float]  # the oldest unpublished row's age, sampled every 100 ms
    drained_after: float | None  # seconds from the last write until the outbox was empty; None: not in time

    def percentile(self, p: float) -> float:
        ordered = sorted(self.ages)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        return (f"intake {self.rate_written:.0f}/s (asked {self.rate_asked:.0f}/s) for {self.seconds:.0f} s, "
                f"{self.relays} relay(s): oldest unpublished row age p50 {self.percentile(50) * 1000:.0f} ms, "
                f"p99 {self.percentile(99) * 1000:.0f} ms, max {max(self.ages, default=0) * 1000:.0f} ms "
                f"({len(self.ages)} samples); " +
                (f"drained {self.drained_after:.2f} s after the last write" if self.drained_after is not None
                 else "NOT drained within the wait after the last write"))


def measure_relay_lag(*, settings: Settings, rate: float = 1500, seconds: float = 60, relays: int = 1,
                      writers: int = 16, notify: bool = True, drain_wait: float = 60,
                      rows_per_commit: int = 1) -> LagReport:
    """Write `rate` outbox rows/s (one row per commit, as the api does) for `seconds` while
    `relays` relay processes run against a scratch copy of `settings`' database. Where Python
    threads cannot commit that often (a busy machine), `rows_per_commit` > 1 writes a few rows per
    statement: the relay sees the same rate, in small bursts."""
    scratch = _scratch_settings(settings)
    case_ids = _prepare(scratch)
    processes = [Process(f"lag-relay-{i}", ["relay"], settings_env(scratch)) for i in range(relays)]
    try:
        time.sleep(2)  # the relays are up and listening
        ages: list[float] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(scratch, ages, stop), daemon=True)
        sampler.start()
        started = time.monotonic()
        written = _write_at_rate(scratch, case_ids, rate=rate, seconds=seconds, writers=writers, notify=notify,
                                 rows_per_commit=rows_per_commit)
        took = time.monotonic() - started
        last_write = time.monotonic()
        drained = _wait_until_empty(scratch, processes, timeout=drain_wait)
        drained_after = time.monotonic() - last_write if drained else None
        stop.set()
        sampler.join()
        return LagReport(rate_asked=rate, rate_written=written / took, seconds=took, relays=relays, ages=ages,
                         drained_after=drained_after)
    finally:
        for process in processes:
            process.stop()
        _drop(scratch)


def measure_publish_rate(*, settings: Settings, backlog: int = 20_000, relays: int = 1) -> float:
    """Messages/s that `relays` relay processes publish (confirmed and marked) out of a backlog."""
    scratch = _scratch_settings(settings)
    case_ids = _prepare(scratch)
    with psycopg.connect(scratch.libpq_url) as conn:
        conn.execute("INSERT INTO outbox (id, case_id, kind, publish_attempts) "
                     "SELECT gen_random_uuid(), (%s::uuid[])[1 + i %% %s], %s, 0 FROM generate_series(1, %s) i",
                     (case_ids, len(case_ids), str(CommandKind.START), backlog))
    processes: list[Process] = []
    try:
        started = time.monotonic()
        processes = [Process(f"rate-relay-{i}", ["relay"], settings_env(scratch)) for i in range(relays)]
        if not _wait_until_empty(scratch, processes, timeout=600):
            raise RuntimeError(f"the relay did not publish a backlog of {backlog} within 600 s")
        return backlog / (time.monotonic() - started)  # includes the relays' start-up (~1 s)
    finally:
        for process in processes:
            process.stop()
        _drop(scratch)


def _scratch_settings(settings: Settings) -> Settings:
    name = f"vigil_relay_lag_{uuid.uuid4().hex[:8]}"
    url = make_conninfo(settings.libpq_url, dbname=name)
    params = conninfo_to_dict(url)
    database_url = f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:" \
                   f"{params.get('port', 5432)}/{name}"
    update = {"database_url": database_url, "queue_name": f"relay-lag-{name[-8:]}"}
    if "relay_metrics_port" in Settings.model_fields:
        update["relay_metrics_port"] = 0  # several relays on one machine: no port to share
    return settings.model_copy(update=update)


def _prepare(scratch: Settings) -> list[uuid.UUID]:
    migrate(scratch)
    engine = make_engine(scratch, pool_size=1)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            cases = [Case(external_id=uuid.uuid4().hex, content={"text": "t", "author_id": "u"}, meta={},
                          status=Status.RECEIVED, created_by="lag") for _ in range(1000)]
            session.add_all(cases)
            session.flush()
            return [case.id for case in cases]
    finally:
        engine.dispose()


def _write_at_rate(scratch: Settings, case_ids: list[uuid.UUID], *, rate: float, seconds: float, writers: int,
                   notify: bool, rows_per_commit: int = 1) -> int:
    counts = [0] * writers

    def write(index: int) -> None:
        interval = writers * rows_per_commit / rate
        with psycopg.connect(scratch.libpq_url, autocommit=True) as conn:
            start = time.monotonic()
            n = 0
            while (now := time.monotonic()) - start < seconds:
                due = start + n * interval
                if now < due:
                    time.sleep(due - now)
                conn.execute(INSERT_ROW_AND_NOTIFY if notify else INSERT_ROW,
                             (case_ids[n % len(case_ids)], str(CommandKind.START), rows_per_commit))
                n += 1
            counts[index] = n * rows_per_commit

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def _sample(scratch: Settings, ages: list[float], stop: threading.Event) -> None:
    with psycopg.connect(scratch.libpq_url, autocommit=True) as conn:
        while not stop.wait(0.1):
            ages.append(float(conn.execute(OLDEST_UNPUBLISHED_AGE).fetchone()[0]))


def _wait_until_empty(scratch: Settings, processes: list[Process], *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with psycopg.connect(scratch.libpq_url, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 1").fetchone():
            if not all(p.alive() for p in processes):
                raise RuntimeError("a relay exited:\n" + "\n".join(p.log()[-2000:] for p in processes))
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return True


def _drop(scratch: Settings) -> None:
    name = conninfo_to_dict(scratch.libpq_url)["dbname"]
    with psycopg.connect(make_conninfo(scratch.libpq_url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with pika.BlockingConnection(pika.URLParameters(scratch.rabbitmq_url)) as connection:
        channel = connection.channel()
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(scratch.queue_name + suffix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1500, help="outbox rows per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--relays", type=int, default=1)
    parser.add_argument("--writers", type=int, default=16, help="writer connections (one row per commit)")
    parser.add_argument("--rows-per-commit", type=int, default=1, help="rows per writer statement")
    parser.add_argument("--no-notify", action="store_true", help="write rows without NOTIFY")
    parser.add_argument("--drain-wait", type=float, default=60, help="seconds to wait for the outbox to empty")
    parser.add_argument("--backlog", type=int, default=0, help="measure the publish rate over this backlog instead")
    args = parser.parse_args()
    settings = Settings()
    if args.backlog:
        rate = measure_publish_rate(settings=settings, backlog=args.backlog, relays=args.relays)
        print(f"published a backlog of {args.backlog} rows at {rate:.0f} messages/s with {args.relays} relay(s)")
        return
    report = measure_relay_lag(settings=settings, rate=args.rate, seconds=args.seconds, relays=args.relays,
                               writers=args.writers, notify=not args.no_notify, drain_wait=args.drain_wait,
                               rows_per_commit=args.rows_per_commit)
    print(report.summary())


if __name__ == "__main__":
    main()
