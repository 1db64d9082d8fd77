"""1. Intake: `wrk -t2 -c16 -d10s` POST /v1/cases, a unique external_id per request, 202s only;
beside it the same uvicorn stack answering a constant and the database committing the same rows."""

from tests.perf import raw_commits
from tests.perf.flamegraphs import flame_graphs
from tests.perf.harness import BenchRun, say, stop_popen, uvicorn_app
from tests.perf.load import wrk_intake
from tests.perf.procs import rss_per_process, tree_cpu_seconds
from tests.perf.table import Row, missing

WARM_UP_SECONDS = 2
# The database's ceiling, and what NOTIFY (a lock held through commit) and the WAL flush each cost.
RAW_KINDS = {"plain": {}, "notify": {"notify": True}, "no fsync wait": {"durable": False}}


def measure(run: BenchRun) -> list[Row]:
    config = run.config
    shape = f"wrk -t{config.wrk_threads} -c{config.connections} -d{config.intake_seconds}s"
    load = dict(threads=config.wrk_threads, connections=config.connections)
    rows: list[Row] = []

    run.fresh()
    services = run.services()
    try:
        api = services.api()
        wrk_intake(services.api_url, key=run.keys["upstream"], seconds=WARM_UP_SECONDS, **load)
        say(f"intake: {shape} on `vigil api --workers {config.api_processes}`")
        with flame_graphs(config, **{"api-intake": api.popen.pid}):
            cpu = tree_cpu_seconds(api.popen.pid)
            vigil = wrk_intake(services.api_url, key=run.keys["upstream"], seconds=config.intake_seconds, **load)
            api_cpu_ms = 1000 * (tree_cpu_seconds(api.popen.pid) - cpu) / max(1, vigil.requests)
        api_rss = rss_per_process(api.popen.pid)
    finally:
        services.stop()
    say(f"intake: {vigil.describe()}")

    bare = None
    try:
        popen, url = uvicorn_app("tests.perf.bare_app:app", processes=config.api_processes)
        try:
            wrk_intake(url, key="-", seconds=WARM_UP_SECONDS, **load)
            say("intake reference: the same stack answering a constant")
            cpu = tree_cpu_seconds(popen.pid)
            bare = wrk_intake(url, key="-", seconds=config.intake_seconds, **load)
            bare_cpu_ms = 1000 * (tree_cpu_seconds(popen.pid) - cpu) / max(1, bare.requests)
        finally:
            stop_popen(popen)
    except Exception as error:
        rows.append(missing("intake reference: bare FastAPI constant", error=error))

    run.fresh()
    say("intake reference: raw Postgres commits of case + audit + outbox rows, 16 connections")
    raws = {}
    for kind, options in RAW_KINDS.items():
        try:
            raws[kind] = raw_commits.commit_rate(run.settings.libpq_url, connections=config.connections,
                                                 seconds=config.intake_seconds, **options)
        except Exception as error:
            rows.append(missing(f"intake reference: raw commits ({kind})", error=error))
    run.fresh()

    accepted = vigil.ok_per_second
    target = "≥ 1,500/s"
    if bare:
        rows.append(Row(f"intake: accepted/s, {shape}", accepted, "/s", bare.ok_per_second,
                        "bare FastAPI constant, same uvicorn stack", target))
    labels = {"plain": f"raw case+audit+outbox commits, {config.connections} conns",
              "notify": "the same raw commits + NOTIFY vigil_outbox",
              "no fsync wait": "the same raw commits, synchronous_commit=off"}
    for kind, rate in raws.items():
        rows.append(Row(f"intake: accepted/s vs the database ({kind})", accepted, "/s", rate, labels[kind], target))
    rows.append(Row("intake: p50 latency", vigil.p50_ms, "ms", bare and bare.p50_ms, "bare constant"))
    rows.append(Row("intake: p99 latency", vigil.p99_ms, "ms", bare and bare.p99_ms, "bare constant", "≤ 50 ms"))
    rows.append(Row("intake: errors (non-202, socket errors, timeouts)", vigil.errors, "", target="0",
                    note=", ".join(f"{code}: {n}" for code, n in vigil.codes.items())))
    rows.append(Row("api CPU per create request", api_cpu_ms, "ms", bare and bare_cpu_ms, "bare constant",
                    note="all api processes' CPU time / requests"))
    rows.append(Row(f"api RSS per process after the intake (max of {len(api_rss)})", max(api_rss), "MiB",
                    target="≤ 150 MiB", note=" / ".join(f"{mib:.0f}" for mib in api_rss)))
    return rows
