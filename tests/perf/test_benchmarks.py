"""Benchmarks: they print figures and ratios against the design's references, and assert only
that the work got done. Run: `bash tests/run.sh tests/perf -m perf -s`."""

import concurrent.futures
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from demo.stack import Stack
from services.worker.main import build_runner
from tests.support.api import all_cases
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.perf
N = 400
TEXT = "You are a worthless idiot and everybody hates you, shut up you moron #{n}"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f}/s"


def raw_insert_rate(settings, count: int) -> float:
    """The reference: a case row plus an outbox row, one commit each, straight through psycopg."""
    with psycopg.connect(settings.libpq_url, autocommit=False) as conn:
        started = time.perf_counter()
        for n in range(count):
            case_id = uuid.uuid4()
            conn.execute("INSERT INTO cases (id, external_id, content, status, review_round, review_attempt, version, created_by)"
                         " VALUES (%s, %s, '{}', 'received', 1, 0, 1, 'bench')", (case_id, f"raw-{case_id}"))
            conn.execute("INSERT INTO outbox (id, case_id, kind, publish_attempts) VALUES (%s, %s, 'start', 0)",
                         (uuid.uuid4(), case_id))
            conn.commit()
        return time.perf_counter() - started


def rss_mib(pid: int) -> float:
    total = 0
    for child in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def test_intake_and_pipeline_throughput(settings, keys, platform):
    raw_seconds = raw_insert_rate(settings, N)
    two_workers_seconds = intake_seconds(settings, keys, workers=2)
    stack = Stack(settings, api_port=free_port())
    try:
        stack.start_api()
        api_seconds = post_cases(stack.api_url, keys["upstream"], N)

        stack.start_relay()
        worker = stack.start_worker(threads=4)
        started = time.perf_counter()
        admin = httpx.Client(base_url=stack.api_url, headers={"X-API-Key": keys["admin"]}, timeout=30)

        posted = 2 * N  # both intake runs' cases flow through the pipeline
        wait_until(lambda: len(all_cases(admin, "awaiting_review")) == posted, timeout=600, interval=0.5,
                   what=f"{posted} cases to pause for review")
        pipeline_seconds = time.perf_counter() - started
        worker_rss = rss_mib(worker.popen.pid)
    finally:
        stack.stop()

    bare_seconds = bare_graph_loop(settings, N)
    print(f"\nintake   raw Postgres case+outbox commit {rate(N, raw_seconds)}   "
          f"POST /v1/cases (4 client processes) {rate(N, api_seconds)}   ratio {raw_seconds / api_seconds:.2f}   "
          f"with `vigil api --workers 2` {rate(N, two_workers_seconds)}")
    print(f"pipeline relay+worker (1 process, 4 threads) received→awaiting_review {rate(posted, pipeline_seconds)}   "
          f"bare in-process graph+PostgresSaver loop {rate(N, bare_seconds)}   ratio {(posted / pipeline_seconds) / (N / bare_seconds):.2f}")
    print(f"memory   worker RSS with {posted} cases paused: {worker_rss:.0f} MiB")


def _post_some(api_url: str, key: str, numbers: range) -> None:
    with httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=30) as client:
        for n in numbers:
            answer = client.post("/v1/cases", json={"external_id": f"bench-{uuid.uuid4().hex}",
                                                    "content": {"text": TEXT.format(n=n), "author_id": f"b{n}"}})
            assert answer.status_code == 202


def post_cases(api_url: str, key: str, count: int, *, clients: int = 4) -> float:
    """Posts from client processes of their own, so the client's GIL is not what is measured."""
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(clients) as pool:
        list(pool.map(_post_some, [api_url] * clients, [key] * clients,
                      [range(i, count, clients) for i in range(clients)]))
    return time.perf_counter() - started


def intake_seconds(settings, keys, *, workers: int) -> float:
    stack = Stack(settings, api_port=free_port())
    try:
        stack.start_api(workers=workers)
        return post_cases(stack.api_url, keys["upstream"], N)
    finally:
        stack.stop()


def bare_graph_loop(settings, count: int) -> float:
    """The reference: the same graph, compiled once, invoked in-process up to its first pause."""
    case_ids = [str(uuid.uuid4()) for _ in range(count)]
    with psycopg.connect(settings.libpq_url) as conn:  # the nodes write the read model of a real case
        for case_id in case_ids:
            conn.execute("INSERT INTO cases (id, external_id, content, status, review_round, review_attempt, version,"
                         " created_by) VALUES (%s, %s, '{}', 'analyzing', 1, 0, 1, 'bench')", (case_id, case_id))
    runner, closers = build_runner(settings, threads=1)
    graph = runner._graphs.get()
    try:
        started = time.perf_counter()
        for n, case_id in enumerate(case_ids):
            graph.invoke({"case_id": case_id, "external_id": case_id, "content": {"text": TEXT.format(n=n), "author_id": "x"},
                          "round": 1, "attempt": 0}, {"configurable": {"thread_id": case_id}}, durability="exit")
        return time.perf_counter() - started
    finally:
        for close in closers:
            close()
