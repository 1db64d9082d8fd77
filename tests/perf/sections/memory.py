"""4. Memory: RSS of each `vigil worker --processes 2` process after BENCH_MEMORY_CASES cases have
paused (a paused case must cost no worker memory). The api's RSS is measured after the intake."""

from tests.perf.harness import BenchRun, say
from tests.perf.procs import rss_per_process
from tests.perf.sections.pipeline import post_and_pause
from tests.perf.table import Row


def measure(run: BenchRun) -> list[Row]:
    cases = run.config.memory_cases
    run.fresh()
    services = run.services()
    try:
        services.api()
        say(f"memory: {cases} cases through relay + workers to awaiting_review")
        paused = post_and_pause(run, services, cases=cases)
        worker = next(p for p in services.processes if p.name == "bench-worker")
        rss = rss_per_process(worker.popen.pid)
    finally:
        services.stop()
        run.fresh()
    return [
        Row(f"worker RSS per process after {paused.reached:,} cases paused (max of {len(rss)})", max(rss), "MiB",
            target="≤ 300 MiB", note=" / ".join(f"{mib:.0f}" for mib in rss)),
        Row(f"pipeline: received → awaiting_review, {cases:,} cases", paused.rate, "cases/s",
            note="the memory run's own rate"),
    ]
