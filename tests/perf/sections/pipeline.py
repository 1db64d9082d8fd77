"""3. Pipeline: N cases posted, then `vigil worker --processes 2` and a relay started; the time
until all are awaiting_review (a COUNT in Postgres every 200 ms). Then a moderator resumes every
case with "remove" over many connections (wrk, so the client's CPU stays off the system measured),
and the time until all are closed, platform calls included.
Beside it, the bare in-process LangGraph + PostgresSaver loop of the same graph. Also the
checkpoint bytes a paused and a closed case leave behind."""

from dataclasses import dataclass

from tests.perf import bare_graph
from tests.perf.flamegraphs import flame_graphs
from tests.perf.harness import (
    BenchRun, Services, connect, database_now, first_publish, say, status_counts, wait_for_count,
)
from tests.perf.load import new_cases, send, wrk_resume
from tests.perf.procs import tree_cpu_seconds
from tests.perf.table import Row, missing

CHECKPOINT_BYTES = """
SELECT (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoints t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_blobs t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_writes t WHERE thread_id = ANY(%(ids)s))
"""


def checkpoint_bytes_per_case(run: BenchRun, ids: list[str]) -> float:
    with connect(run.settings) as conn:
        return conn.execute(CHECKPOINT_BYTES, {"ids": ids}).fetchone()[0] / max(1, len(ids))


@dataclass(frozen=True)
class Paused:
    seconds: float
    reached: int
    worker_cpu: float  # CPU seconds of all worker processes meanwhile

    @property
    def rate(self) -> float:
        return self.reached / self.seconds


def post_and_pause(run: BenchRun, services: Services, *, cases: int, profile_as: str = "") -> Paused:
    """Post `cases` cases with no worker running, start the workers, then a relay; measures the
    time from the relay's first publish until all are awaiting_review. Neither the workers'
    start-up nor the relay's is counted (the bare loop's is not either)."""
    answers = send(services.api_url, key=run.keys["upstream"], requests=new_cases(cases))
    if answers[202] != cases:
        raise RuntimeError(f"posting {cases} cases: {dict(answers)}")
    worker = services.workers()
    say(f"{cases} cases posted; workers consuming; relay starting now")
    profiles = {f"worker-{profile_as}": worker.popen.pid} if profile_as else {}
    with flame_graphs(run.config, **profiles):
        cpu = tree_cpu_seconds(worker.popen.pid)
        relay_started = database_now(run.settings)
        services.relay()
        reached, done_at = wait_for_count(run.settings, status="awaiting_review", expected=cases,
                                          timeout=run.config.patience(cases), check=services.check)
        cpu = tree_cpu_seconds(worker.popen.pid) - cpu
    started = first_publish(run.settings) or relay_started
    if reached < cases:
        say(f"only {reached}/{cases} cases paused: {status_counts(run.settings)}")
    if reached == 0:
        raise RuntimeError(f"no case reached awaiting_review: {status_counts(run.settings)}")
    say(f"relay start-up (not counted): {(started - relay_started).total_seconds():.1f}s")
    return Paused(seconds=(done_at - started).total_seconds(), reached=reached, worker_cpu=cpu)


def measure(run: BenchRun) -> list[Row]:
    config = run.config
    n = config.cases
    rows: list[Row] = []
    run.fresh()
    services = run.services()
    try:
        api = services.api()
        say(f"pipeline: {n} cases, relay + `vigil worker --processes {config.worker_processes}`")
        paused = post_and_pause(run, services, cases=n, profile_as="pause")
        with connect(run.settings) as conn:
            ids = [str(row[0]) for row in conn.execute("SELECT id FROM cases WHERE status = 'awaiting_review'")]
        paused_bytes = checkpoint_bytes_per_case(run, ids)

        say(f"pipeline: resuming {len(ids)} cases with 'remove' over {config.resume_clients} clients")
        worker = next(p for p in services.processes if p.name == "bench-worker")
        with flame_graphs(config, **{"worker-resume": worker.popen.pid, "api-resume": api.popen.pid}):
            started, cpu, api_cpu = (database_now(run.settings), tree_cpu_seconds(worker.popen.pid),
                                     tree_cpu_seconds(api.popen.pid))
            with wrk_resume(services.api_url, key=run.keys["moderator"], case_ids=ids, decision="remove",
                            threads=config.wrk_threads, connections=config.resume_clients,
                            seconds=int(config.patience(len(ids)))) as resumes:
                closed, done_at = wait_for_count(run.settings, status="closed", expected=len(ids),
                                                 timeout=config.patience(len(ids)), check=services.check)
                answers = resumes()
            closed_seconds = (done_at - started).total_seconds()
            resume_cpu = tree_cpu_seconds(worker.popen.pid) - cpu
            api_cpu = tree_cpu_seconds(api.popen.pid) - api_cpu
        if answers.ok != len(ids) or closed < len(ids):
            say(f"resume answers: {answers.describe()}; {closed}/{len(ids)} closed: {status_counts(run.settings)}")
        closed_bytes = checkpoint_bytes_per_case(run, ids)
    finally:
        services.stop()
    short_note = f"{paused.reached}/{n} paused" if paused.reached < n else ""

    bare = None
    try:
        say(f"pipeline reference: bare LangGraph + PostgresSaver loop, 1 process, {config.bare_threads} threads")
        bare = bare_graph.run(run.settings, count=n, threads=config.bare_threads)
        if bare.errors:
            say(f"bare loop: {bare.errors} errors, first: {bare.first_error[:300]}")
    except Exception as error:
        rows.append(missing("pipeline reference: bare loop", error=error))
    run.fresh()

    bare_label = f"bare graph loop, 1 process × {config.bare_threads} threads"
    rows.append(Row(f"pipeline: received → awaiting_review, {n:,} cases", paused.rate, "cases/s",
                    bare and bare.cases / bare.paused_seconds, bare_label, "≥ 1.0× reference", short_note))
    rows.append(Row("pipeline: resume → closed (platform calls included)", closed / closed_seconds, "cases/s",
                    bare and bare.cases / bare.resumed_seconds, bare_label, "≥ 1.0× reference",
                    f"{closed}/{len(ids)} closed" if closed < len(ids) else ""))
    rows.append(Row("worker CPU per case, received → awaiting_review", 1000 * paused.worker_cpu / max(1, paused.reached),
                    "ms", bare and 1000 * bare.paused_cpu / bare.cases, "bare loop", note="all worker processes"))
    rows.append(Row("worker CPU per case, resume → closed", 1000 * resume_cpu / max(1, closed), "ms",
                    bare and 1000 * bare.resumed_cpu / bare.cases, "bare loop"))
    rows.append(Row("api CPU per resume request", 1000 * api_cpu / max(1, len(ids)), "ms"))
    rows.append(Row("checkpoint bytes per paused case", paused_bytes, "B", note="checkpoints+blobs+writes"))
    rows.append(Row("checkpoint bytes per closed case", closed_bytes, "B"))
    if bare and bare.errors:
        rows.append(Row("pipeline reference: bare loop errors", bare.errors, note=bare.first_error[:100]))
    return rows
