"""`bash tests/perf/run.sh [intake relay pipeline memory scale]`: start what the figures need on a
database of the bench's own, measure each figure beside its reference in the same run, and print
one Markdown table (figure | Vigil | reference | ratio | target). Progress goes to stderr.

Figures are printed, never asserted: the machine is shared and noisy, ratios in one run are what
compare."""

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path

from tests.perf.config import SECTIONS, BenchConfig
from tests.perf.harness import (
    ROOT, BenchRun, Services, bench_settings, create_key, delete_queues, recreate_database, say,
)
from tests.perf.table import Row, markdown, missing

LAST_TABLE = Path("/tmp/vigil-bench/last-table.md")


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "unknown"
    return f"{os.cpu_count()} cores ({cpu}), {memory_kib / 2**20:.0f} GiB, Python {platform.python_version()}, commit {commit}"


def run_bench(sections: list[str], config: BenchConfig | None = None) -> list[Row]:
    config = config or BenchConfig()
    settings = bench_settings(config)
    say(f"database {settings.database_url}: recreating and migrating with `vigil migrate`")
    recreate_database(settings)
    keys = {"upstream": create_key(settings, role="upstream", name="bench-up"),
            "moderator": create_key(settings, role="moderator", name="bench-mod")}
    run = BenchRun(config=config, settings=settings, keys=keys)
    platform_services = Services(settings, config)
    rows: list[Row] = []
    try:
        platform_services.platform()
        for name in sections:
            started = time.monotonic()
            try:
                rows += import_module(f"tests.perf.sections.{name}").measure(run)
            except Exception as error:  # one broken figure must not hide the others
                say(f"{name} failed: {error!r}")
                rows.append(missing(f"{name} section", error=repr(error)))
            say(f"{name} done in {time.monotonic() - started:.0f}s")
    finally:
        platform_services.stop()
        delete_queues(settings)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tests/perf/run.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", help=f"which figures (default all: {' '.join(SECTIONS)})")
    args = parser.parse_args(argv)
    if unknown := set(args.sections) - set(SECTIONS):
        parser.error(f"unknown section {', '.join(sorted(unknown))}; choose from {' '.join(SECTIONS)}")
    sections = [name for name in SECTIONS if name in (args.sections or SECTIONS)]
    started = time.monotonic()
    rows = run_bench(sections)
    command = " ".join(["bash tests/perf/run.sh", *sys.argv[1:]])
    knobs = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
    table = (f"{markdown(rows)}\n\nRatio = Vigil ÷ reference. {_machine()}. "
             f"`{(knobs + ' ') if knobs else ''}{command}`, {time.monotonic() - started:.0f} s.")
    LAST_TABLE.parent.mkdir(parents=True, exist_ok=True)
    LAST_TABLE.write_text(table + "\n")
    print(table, flush=True)


if __name__ == "__main__":
    main()
