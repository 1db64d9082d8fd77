"""`pytest -m perf`: the benchmark of tests/perf/run.sh with tiny numbers, proving every figure
is measured end to end. It prints the table and asserts only that each figure got a value: the
figures themselves are for people (`bash tests/perf/run.sh` for the real run)."""

import dataclasses
import os
import shutil

import pytest

from tests.perf.bench import run_bench
from tests.perf.config import SECTIONS, BenchConfig
from tests.perf.table import markdown

pytestmark = [
    pytest.mark.perf,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk: bash tests/perf/run.sh installs it"),
]


def test_every_figure_is_measured_and_printed():
    config = dataclasses.replace(
        BenchConfig(),
        # the run's own database (recreated by the bench) and queue
        database_url=os.environ.get("VIGIL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/vigil_test"),
        queue_name=f"vigil-bench-test-{os.getpid()}",
        intake_seconds=2, relay_seconds=3, cases=40, rounds=2, memory_cases=40, scale_cases=5_000, scale_seconds=2,
    )
    rows = run_bench(list(SECTIONS), config)
    print("\n" + markdown(rows))
    assert [row.figure for row in rows if row.vigil is None] == []
