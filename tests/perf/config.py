"""What a benchmark run measures and how much of it: every knob is an environment variable, so
`BENCH_CASES=200 bash tests/perf/run.sh pipeline` is a quick run and the defaults are the issue's."""

import os
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("intake", "relay", "pipeline", "memory", "scale")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class BenchConfig:
    database_url: str = field(default_factory=lambda: os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/vigil_bench"))
    queue_name: str = field(default_factory=lambda: os.environ.get("BENCH_QUEUE", "vigil-bench"))
    api_processes: int = field(default_factory=lambda: _int("BENCH_API_PROCESSES", 2))
    worker_processes: int = field(default_factory=lambda: _int("BENCH_WORKER_PROCESSES", 2))
    worker_threads: int = field(default_factory=lambda: _int("BENCH_WORKER_THREADS", 4))
    # 1. intake: wrk -t2 -c16 -d10s
    wrk_threads: int = field(default_factory=lambda: _int("BENCH_WRK_THREADS", 2))
    connections: int = field(default_factory=lambda: _int("BENCH_CONNECTIONS", 16))
    intake_seconds: int = field(default_factory=lambda: _int("BENCH_INTAKE_SECONDS", 10))
    # 2. relay lag: intake paced at this rate (open loop) for this long; enough connections that
    # the schedule, not the answers' latency, sets the rate (16 connections at ~11 ms cap it at ~1,450/s)
    relay_seconds: int = field(default_factory=lambda: _int("BENCH_RELAY_SECONDS", 60))
    relay_rate: int = field(default_factory=lambda: _int("BENCH_RELAY_RATE", 1500))
    relay_connections: int = field(default_factory=lambda: _int("BENCH_RELAY_CONNECTIONS", 64))
    relay_sample_interval: float = field(default_factory=lambda: _float("BENCH_RELAY_SAMPLE", 0.1))
    # 3. pipeline
    cases: int = field(default_factory=lambda: _int("BENCH_CASES", 1000))
    # rounds of Vigil and the bare loop: the machine's noise moves one round by ±15 %, so the median of five
    rounds: int = field(default_factory=lambda: _int("BENCH_ROUNDS", 5))
    bare_threads: int = field(default_factory=lambda: _int("BENCH_BARE_THREADS", 4))
    resume_clients: int = field(default_factory=lambda: _int("BENCH_RESUME_CLIENTS", 32))
    # 4. memory
    memory_cases: int = field(default_factory=lambda: _int("BENCH_MEMORY_CASES", 10_000))
    # 5. stored work at scale
    scale_cases: int = field(default_factory=lambda: _int("BENCH_SCALE_CASES", 1_000_000))
    scale_seconds: int = field(default_factory=lambda: _int("BENCH_SCALE_SECONDS", 10))
    scale_connections: int = field(default_factory=lambda: _int("BENCH_SCALE_CONNECTIONS", 4))
    scale_audit: bool = field(default_factory=lambda: os.environ.get("BENCH_SCALE_AUDIT", "1") == "1")
    # how long to wait for the pipeline before giving up (seconds per case, at least a minute)
    patience_per_case: float = field(default_factory=lambda: _float("BENCH_PATIENCE_PER_CASE", 0.2))
    profile: bool = field(default_factory=lambda: os.environ.get("BENCH_PROFILE", "0") in ("1", "raw", "gil", "wall"))
    profile_dir: Path = field(default_factory=lambda: Path(os.environ.get("BENCH_PROFILE_DIR", "/tmp/vigil-profile")))

    def patience(self, cases: int) -> float:
        return max(60.0, cases * self.patience_per_case)
