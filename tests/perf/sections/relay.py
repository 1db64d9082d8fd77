"""2. The relay keeps up: an intake paced at the target rate with the relay running and no
workers; the age of the oldest unpublished outbox row sampled every 100 ms in Postgres."""

import threading
import time

import httpx

from demo.processes import wait_until
from tests.perf.harness import BenchRun, connect, say
from tests.perf.load import wrk_intake
from tests.perf.procs import cpu_seconds
from tests.perf.table import Row


def _oldest_unpublished_sql(run: BenchRun) -> str:
    """Rows waiting for the relay: unpublished ones, or every row if the relay deletes what it sent."""
    with connect(run.settings) as conn:
        columns = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'outbox'")}
    waiting = " WHERE published_at IS NULL" if "published_at" in columns else ""
    return f"SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox{waiting}"


class LagSampler(threading.Thread):
    def __init__(self, run: BenchRun, *, interval: float) -> None:
        super().__init__(daemon=True)
        self._run, self._interval = run, interval
        self._sql = _oldest_unpublished_sql(run)
        self._stopping = threading.Event()
        self.samples: list[float] = []

    def lag(self) -> float:
        with connect(self._run.settings) as conn:
            return conn.execute(self._sql).fetchone()[0]

    def run(self) -> None:
        with connect(self._run.settings) as conn:
            while not self._stopping.wait(self._interval):
                self.samples.append(conn.execute(self._sql).fetchone()[0])

    def stop(self) -> list[float]:
        self._stopping.set()
        self.join()
        return self.samples


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def measure(run: BenchRun) -> list[Row]:
    config = run.config
    run.fresh()
    services = run.services()
    try:
        services.api()
        relay = services.relay()
        sampler = LagSampler(run, interval=config.relay_sample_interval)
        # The relay is up when a case posted now leaves nothing unpublished behind it.
        httpx.post(f"{services.api_url}/v1/cases", headers={"X-API-Key": run.keys["upstream"]}, timeout=10,
                   json={"external_id": f"relay-ready-{time.time_ns()}", "content": {"text": "hi", "author_id": "r"}})
        wait_until(lambda: services.check() or sampler.lag() == 0, timeout=60, interval=0.2,
                   what="the relay to publish")
        say(f"relay: {config.relay_seconds}s intake paced at {config.relay_rate}/s, relay running, no workers")
        sampler.start()
        cpu = cpu_seconds(relay.popen.pid)
        result = wrk_intake(services.api_url, key=run.keys["upstream"], threads=config.wrk_threads,
                            connections=config.relay_connections, seconds=config.relay_seconds,
                            rate=config.relay_rate)
        samples = sampler.stop()
        relay_cpu_ms = 1000 * (cpu_seconds(relay.popen.pid) - cpu) / max(1, result.ok)
    finally:
        services.stop()
        run.fresh()  # the messages it published have no worker: drop them
    say(f"relay: {result.describe()}, {len(samples)} lag samples")
    shape = f"{config.relay_seconds}s, wrk -c{config.relay_connections} paced at {config.relay_rate:,}/s, open loop"
    return [
        Row("relay run: accepted/s offered to the relay", result.ok_per_second, "/s",
            target=f"{config.relay_rate:,}/s", note=shape),
        Row("relay run: p99 latency of the create call", result.p99_ms, "ms",
            note=f"p50 {result.p50_ms:.1f} ms, {result.errors} errors"),
        Row("relay lag: oldest unpublished outbox row, p99", _percentile(samples, 0.99), "s", target="< 1 s",
            note=f"{len(samples)} samples every {config.relay_sample_interval * 1000:.0f} ms"),
        Row("relay lag: oldest unpublished outbox row, max", max(samples, default=float("nan")), "s"),
        Row("relay CPU per message", relay_cpu_ms, "ms", note="its CPU time / cases posted meanwhile"),
    ]
