"""`.venv/bin/python -m tests.perf.retention`: what a case costs in Postgres before and after it is
final, and after retention. (Start Postgres and RabbitMQ first, e.g. `bash deploy/bootstrap.sh`.)

BENCH_RETENTION_CASES (default 1000) abusive cases go through the real pipeline (`vigil api`, a
relay, `vigil worker`, the demo platform) to `awaiting_review`, are decided "remove" and closed;
as many clean ones close on their own. Then their appeal windows are made to end (`appealable_until`
set to now: the bench cannot wait six months) and the scheduler's own rule makes them final; then
their `final_at` is moved back past AUDIT_RETENTION_DAYS and the scheduler's purge runs.

Bytes are measured two ways: the rows' own size per case (`pg_column_size` of each row of the
case: what a case adds, whatever else the tables hold) and the checkpoint tables on disk with their
indexes (`pg_total_relation_size`, after VACUUM FULL so deleted rows give their space back; a plain
VACUUM, as autovacuum runs, makes the space reusable by new checkpoints without returning it).
Prints one Markdown table on a database of its own (BENCH_DATABASE_URL, default .../vigil_bench_retention).
"""

import os
import time

from shared.db import make_engine
from shared.threads import TABLES
from services.scheduler.main import Scheduler
from tests.perf.config import BenchConfig
from tests.perf.harness import BenchRun, bench_settings, connect, create_key, delete_queues, recreate_database, say, \
    wait_for_count
from tests.perf.load import send
from tests.perf.sections.pipeline import post_and_pause
from tests.perf.table import Row, markdown

RECORD = ("audit_events", "decisions", "appeals", "actions", "statements", "case_events", "outbox",
          "message_attempts")


def _rows_bytes(table: str, key: str) -> str:
    return f"(SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t WHERE {key} = ANY(%(ids)s))"


CHECKPOINT_BYTES = " + ".join(_rows_bytes(table, "thread_id") for table in TABLES)
RECORD_BYTES = " + ".join([_rows_bytes("cases", "id::text"), *(_rows_bytes(table, "case_id::text") for table in RECORD)])
CHECKPOINT_DISK = " + ".join(f"pg_total_relation_size('{table}')" for table in TABLES)


def per_case(settings, query: str, ids: list[str]) -> float:
    with connect(settings) as conn:
        return conn.execute(f"SELECT {query}", {"ids": ids}).fetchone()[0] / max(1, len(ids))


def checkpoint_disk(settings) -> float:
    """The checkpoint tables with their indexes on disk, in KiB, once deleted rows gave their space back."""
    with connect(settings) as conn:
        for table in TABLES:
            conn.execute(f"VACUUM FULL {table}")
        return conn.execute(f"SELECT {CHECKPOINT_DISK}").fetchone()[0] / 1024


def ids_with(settings, status: str) -> list[str]:
    with connect(settings) as conn:
        return [str(row[0]) for row in conn.execute("SELECT id FROM cases WHERE status = %s", (status,))]


def until_done(step) -> tuple[int, float]:
    """Run a scheduler rule until a pass finds nothing; how many it handled and how long it took."""
    total, started = 0, time.perf_counter()
    while done := step():
        total += done
    return total, time.perf_counter() - started


def main() -> None:
    config = BenchConfig(database_url=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/vigil_bench_retention"))
    n = int(os.environ.get("BENCH_RETENTION_CASES", 1000))
    settings = bench_settings(config)
    say(f"retention: database {settings.database_url}, {n} decided and {n} clean cases")
    recreate_database(settings)
    run = BenchRun(config=config, settings=settings, keys={
        "upstream": create_key(settings, role="upstream", name="bench-up"),
        "moderator": create_key(settings, role="moderator", name="bench-mod")})
    services = run.services()
    try:
        services.platform()
        services.api()
        post_and_pause(run, services, cases=n)
        decided = ids_with(settings, "awaiting_review")
        paused = per_case(settings, CHECKPOINT_BYTES, decided), per_case(settings, RECORD_BYTES, decided)
        send(services.api_url, key=run.keys["moderator"],
             requests=[(f"/v1/cases/{case_id}/resume", {"decision": "remove"}) for case_id in decided])
        wait_for_count(settings, status="closed", expected=len(decided), timeout=config.patience(n), check=services.check)
        send(services.api_url, key=run.keys["upstream"], requests=[
            ("/v1/cases", {"external_id": f"clean-{i}", "content": {"text": f"Lovely weather at the lake #{i}",
                                                                     "author_id": "u"}}) for i in range(n)])
        wait_for_count(settings, status="auto_closed", expected=n, timeout=config.patience(n), check=services.check)
    finally:
        services.stop()
        delete_queues(settings)
    clean = ids_with(settings, "auto_closed")
    closed = per_case(settings, CHECKPOINT_BYTES, decided), per_case(settings, RECORD_BYTES, decided)
    auto = per_case(settings, CHECKPOINT_BYTES, clean), per_case(settings, RECORD_BYTES, clean)
    disk_closed = checkpoint_disk(settings)

    engine = make_engine(settings)
    scheduler = Scheduler(engine=engine, settings=settings)
    with connect(settings) as conn:  # the six months pass
        conn.execute("UPDATE cases SET appealable_until = now() WHERE status = 'closed'")
    finalized, final_seconds = until_done(lambda: scheduler.run_once()["finalized"])
    final = per_case(settings, CHECKPOINT_BYTES, decided), per_case(settings, RECORD_BYTES, decided)
    disk_final = checkpoint_disk(settings)
    with connect(settings) as conn:  # and then the years of retention
        conn.execute("UPDATE cases SET final_at = final_at - make_interval(secs => %s)",
                     ((settings.audit_retention_days + 1) * 86400,))
    purged, purge_seconds = until_done(lambda: scheduler.run_once()["purged"])
    gone = per_case(settings, RECORD_BYTES, decided + clean)
    engine.dispose()

    rows = [
        Row(f"checkpoint bytes per case, awaiting review ({len(decided):,} cases)", paused[0], "B",
            note="checkpoints+writes+blobs rows"),
        Row("checkpoint bytes per case, closed (appeal window open)", closed[0], "B"),
        Row("checkpoint bytes per case, final (window closed, thread ended)", final[0], "B"),
        Row(f"checkpoint bytes per case, auto-closed ({len(clean):,} cases, final at once)", auto[0], "B"),
        Row(f"checkpoint tables on disk, {len(decided):,} cases closed", disk_closed, "KiB",
            note="with indexes, after VACUUM FULL; auto-closed cases add nothing"),
        Row("checkpoint tables on disk, the same cases final", disk_final, "KiB",
            note="empty tables: a page per table and index"),
        Row("record bytes per case, awaiting review", paused[1], "B",
            note="the case row, audit, decisions, actions, statements, events, outbox, inbox"),
        Row("record bytes per case, closed", closed[1], "B"),
        Row("record bytes per case, final (kept for AUDIT_RETENTION_DAYS)", final[1], "B"),
        Row("record bytes per auto-closed case", auto[1], "B"),
        Row("record bytes per case after the retention purge", gone, "B"),
        Row(f"scheduler: windows closed ({finalized:,} cases, batches of 500)", finalized / max(final_seconds, 1e-9),
            "cases/s"),
        Row(f"scheduler: retention purge ({purged:,} cases with everything attached)",
            purged / max(purge_seconds, 1e-9), "cases/s"),
    ]
    print(markdown(rows) + f"\n\n`BENCH_RETENTION_CASES={n} .venv/bin/python -m tests.perf.retention`", flush=True)


if __name__ == "__main__":
    main()
