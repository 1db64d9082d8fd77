"""3. Pipeline: N cases posted, then `vigil worker --processes 2` and a relay started; the time
until all are awaiting_review (a COUNT in Postgres every 200 ms). Then a moderator resumes every
case with "remove" over many connections (wrk, so the client's CPU stays off the system measured),
and the time until all are closed, platform calls included.
Beside it, the bare in-process LangGraph + PostgresSaver loop of the same graph. Also the
checkpoint bytes a paused and a closed case leave behind."""

import statistics
import time
from dataclasses import dataclass

from services.worker.analysis import make_analyser

from tests.perf import bare_graph
from tests.perf.flamegraphs import flame_graphs
from tests.perf.harness import (
    BenchRun, Services, connect, database_now, first_publish, say, status_counts, wait_for_count,
)
from tests.perf.load import TEXT, new_cases, send, wrk_resume
from tests.perf.procs import tree_cpu_seconds
from tests.perf.table import Row, missing

CHECKPOINT_BYTES = """
SELECT (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoints t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_blobs t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_writes t WHERE thread_id = ANY(%(ids)s))
"""


# When the api had taken every decision, and how many cases the workers closed after that. The
# audit trail has both, so the split costs the run nothing while it is measured.
DECISIONS_IN = """
WITH last AS (SELECT max(at) AS at FROM audit_events WHERE event = 'decision_made')
SELECT last.at, count(*) FILTER (WHERE e.at > last.at)
FROM last LEFT JOIN audit_events e ON e.event = 'closed' GROUP BY last.at
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


@dataclass(frozen=True)
class VigilRound:
    paused: Paused
    closed: int
    resumed: int  # cases resumed (those that paused)
    closed_seconds: float
    resume_cpu: float  # CPU seconds of all worker processes while the resumes ran
    api_cpu: float
    paused_bytes: float
    closed_bytes: float
    decisions_seconds: float  # from the first resume sent until the api had recorded the last decision
    closed_after_decisions: int
    drain_seconds: float  # from the last decision recorded until every case was closed

    @property
    def closed_rate(self) -> float:
        return self.closed / self.closed_seconds

    @property
    def drain_rate(self) -> float:
        """Cases closed per second once the api had taken every decision: the workers alone."""
        return self.closed_after_decisions / self.drain_seconds if self.drain_seconds > 0 else float("nan")


def vigil_round(run: BenchRun, *, first: bool) -> VigilRound:
    """Vigil's processes on a fresh database: N cases to awaiting_review, then each resumed to closed."""
    config = run.config
    n = config.cases
    run.fresh()
    services = run.services()
    try:
        api = services.api()
        say(f"pipeline: {n} cases, relay + `vigil worker --processes {config.worker_processes}`")
        paused = post_and_pause(run, services, cases=n, profile_as="pause" if first else "")
        with connect(run.settings) as conn:
            ids = [str(row[0]) for row in conn.execute("SELECT id FROM cases WHERE status = 'awaiting_review'")]
        paused_bytes = checkpoint_bytes_per_case(run, ids)

        say(f"pipeline: resuming {len(ids)} cases with 'remove' over {config.resume_clients} clients")
        worker = next(p for p in services.processes if p.name == "bench-worker")
        profiles = {"worker-resume": worker.popen.pid, "api-resume": api.popen.pid} if first else {}
        with flame_graphs(config, **profiles):
            started, cpu, api_cpu = (database_now(run.settings), tree_cpu_seconds(worker.popen.pid),
                                     tree_cpu_seconds(api.popen.pid))
            with wrk_resume(services.api_url, key=run.keys["moderator"], case_ids=ids, decision="remove",
                            threads=config.wrk_threads, connections=config.resume_clients,
                            seconds=int(config.patience(len(ids)))) as resumes:
                closed, done_at = wait_for_count(run.settings, status="closed", expected=len(ids),
                                                 timeout=config.patience(len(ids)), check=services.check)
                answers = resumes()
            closed_seconds = (done_at - started).total_seconds()
            with connect(run.settings) as conn:
                last_decision, closed_after = conn.execute(DECISIONS_IN).fetchone()
            resume_cpu = tree_cpu_seconds(worker.popen.pid) - cpu
            api_cpu = tree_cpu_seconds(api.popen.pid) - api_cpu
        if answers.ok != len(ids) or closed < len(ids):
            say(f"resume answers: {answers.describe()}; {closed}/{len(ids)} closed: {status_counts(run.settings)}")
        closed_bytes = checkpoint_bytes_per_case(run, ids)
    finally:
        services.stop()
    return VigilRound(paused=paused, closed=closed, resumed=len(ids), closed_seconds=closed_seconds,
                      resume_cpu=resume_cpu, api_cpu=api_cpu, paused_bytes=paused_bytes, closed_bytes=closed_bytes,
                      decisions_seconds=(last_decision - started).total_seconds(), closed_after_decisions=closed_after,
                      drain_seconds=(done_at - last_decision).total_seconds())


def _bare_or_missing(run: BenchRun, rows: list[Row]) -> bare_graph.BareRun | None:
    """A round's reference, or a row that says why it is missing: Vigil's figures of the round stand."""
    config = run.config
    say(f"pipeline reference: bare LangGraph + PostgresSaver loop, 1 process, {config.bare_threads} threads")
    try:
        bare = bare_graph.run(run.settings, count=config.cases, threads=config.bare_threads)
    except Exception as error:
        rows.append(missing("pipeline reference: bare loop", error=error))
        return None
    finally:
        run.fresh()
    if bare.errors:
        say(f"bare loop: {bare.errors} errors, first: {bare.first_error[:300]}")
    return bare


def analyser_cpu(run: BenchRun, *, texts: int = 500) -> list[Row]:
    """The analyser's CPU per case on the benchmark's texts, in this process: the cascade Vigil's
    workers run, beside the fast model alone that the bare loop runs (issue 21)."""
    mix = [TEXT.format(n=n) for n in range(texts)]
    timed = {}
    for name, settings in (("vigil", run.settings), ("bare", run.settings.model_copy(update=bare_graph.FAST_ONLY))):
        analyser = make_analyser(settings)
        analyser.analyse(text="warm up")
        started = time.process_time()
        stages = [analyser.analyse(text=text).stage for text in mix]
        timed[name] = (1000 * (time.process_time() - started) / texts, stages.count("encoder") / texts)
    return [Row("analyser CPU per case on the benchmark's texts (the cascade; in the bench process)", timed["vigil"][0],
                "ms", timed["bare"][0], "the fast model alone (the bare loop's)",
                note=f"the encoder decided {timed['vigil'][1]:.0%} of them")]


def measure(run: BenchRun) -> list[Row]:
    """BENCH_ROUNDS rounds, each Vigil then the bare loop (the order swapped every other round, so
    a drift of the machine favours neither); the table shows each figure's median round."""
    config = run.config
    n = config.cases
    rounds: list[tuple[VigilRound, bare_graph.BareRun | None]] = []
    rows: list[Row] = []
    for number in range(config.rounds):
        if config.rounds > 1:
            say(f"pipeline: round {number + 1} of {config.rounds}")
        bare = None
        try:
            if number % 2:
                bare = _bare_or_missing(run, rows)
            vigil = vigil_round(run, first=number == 0)
            if not number % 2:
                bare = _bare_or_missing(run, rows)
        except Exception as error:
            rows.append(missing(f"pipeline round {number + 1}", error=error))
            continue
        rounds.append((vigil, bare))
    if not rounds:
        return rows
    vigils = [vigil for vigil, _ in rounds]
    bares = [bare for _, bare in rounds if bare is not None]
    vigil = vigils[0]
    short_note = f"{vigil.paused.reached}/{n} paused" if vigil.paused.reached < n else ""
    paired = [(v, b) for v, b in rounds if b is not None]
    bare_resume_rate = median([b.resumed_rate for b in bares])

    bare_label = f"bare graph loop, 1 process × {config.bare_threads} threads"
    rows.append(Row(f"pipeline: received → awaiting_review, {n:,} cases", median([v.paused.rate for v in vigils]),
                    "cases/s", median([b.paused_rate for b in bares]), bare_label, "≥ 1.0× reference",
                    _rounds_note([(v.paused.rate, b.paused_rate) for v, b in paired], short_note)))
    rows.append(Row("pipeline: resume → closed (platform calls included)", median([v.closed_rate for v in vigils]),
                    "cases/s", bare_resume_rate, bare_label, "≥ 1.0× reference",
                    _rounds_note([(v.closed_rate, b.resumed_rate) for v, b in paired],
                                 f"{vigil.closed}/{vigil.resumed} closed" if vigil.closed < vigil.resumed else "")))
    decisions = [v.resumed / v.decisions_seconds for v in vigils if v.decisions_seconds > 0]
    rows.append(Row("  of which: decisions the api took per second meanwhile", median(decisions), "/s",
                    note=f"median round; cases closed while it took them: "
                         f"{median([v.closed - v.closed_after_decisions for v in vigils]):.0f} of {n:,}"))
    rows.append(Row("  of which: resume → closed once every decision was in (the workers alone)",
                    median([v.drain_rate for v in vigils]), "cases/s", bare_resume_rate, bare_label,
                    note="median round; from the audit trail"))
    rows.append(Row("worker CPU per case, received → awaiting_review",
                    median([1000 * v.paused.worker_cpu / max(1, v.paused.reached) for v in vigils]), "ms",
                    median([1000 * b.paused_cpu / b.cases for b in bares]), "bare loop",
                    note="all worker processes, median round"))
    rows.append(Row("worker CPU per case, resume → closed",
                    median([1000 * v.resume_cpu / max(1, v.closed) for v in vigils]), "ms",
                    median([1000 * b.resumed_cpu / b.cases for b in bares]), "bare loop", note="median round"))
    rows.append(Row("api CPU per resume request", median([1000 * v.api_cpu / max(1, v.resumed) for v in vigils]),
                    "ms", note="median round"))
    rows.append(Row("checkpoint bytes per paused case", vigil.paused_bytes, "B", note="checkpoints+blobs+writes"))
    rows.append(Row("checkpoint bytes per closed case", vigil.closed_bytes, "B"))
    rows += analyser_cpu(run)
    if errors := sum(b.errors for b in bares):
        first = next(b.first_error for b in bares if b.errors)
        rows.append(Row("pipeline reference: bare loop errors", errors, note=first[:100]))
    return rows


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _rounds_note(ratios: list[tuple[float, float]], extra: str = "") -> str:
    """Each round's ratio (Vigil, reference), so the spread is in the table beside the median."""
    if len(ratios) < 2:
        return extra
    each = ", ".join(f"{vigil / reference:.2f}×" for vigil, reference in ratios)
    return "; ".join(part for part in (f"median of {len(ratios)} rounds, each round {each}", extra) if part)
