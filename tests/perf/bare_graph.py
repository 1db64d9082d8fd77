"""The pipeline's reference: the same graph (services.worker.graph.build_graph with the embedded
analyser and the action ledger), compiled with a plain PostgresSaver per thread over one pool, run
in-process by N threads: each case to its first pause, then each resumed to its next pause, with
durability="exit". No broker, no relay, no inbox, no case lock: what LangGraph alone costs."""

import dataclasses
import inspect
import json
import resource
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.types import Command
from psycopg_pool import ConnectionPool

from shared.db import make_engine, make_sessionmaker
from shared.settings import Settings
from services.worker.analysis import make_analyser
from services.worker.graph import GraphDeps, build_graph
from services.worker.ledger import ActionLedger
from services.worker.connections import Platforms
from tests.perf.harness import connect
from tests.perf.load import TEXT
from tests.perf.schema import copy_columns


@dataclass(frozen=True)
class BareRun:
    paused_seconds: float
    resumed_seconds: float
    paused_cpu: float  # CPU seconds of this process (all its threads) for the first step
    resumed_cpu: float
    cases: int
    errors: int
    first_error: str

    @property
    def paused_rate(self) -> float:
        return self.cases / self.paused_seconds

    @property
    def resumed_rate(self) -> float:
        return self.cases / self.resumed_seconds


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _insert_cases(settings: Settings, count: int) -> list[str]:
    """The nodes write the read model of a real case, so each thread of the loop needs its row."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with connect(settings) as conn, conn.transaction(), conn.cursor() as cursor:
        statement, tail = copy_columns(conn, "cases", ["id", "external_id", "content", "status", "review_round",
                                                       "review_attempt", "version", "created_by"])
        with cursor.copy(statement) as copy:
            for n, case_id in enumerate(ids):
                content = json.dumps({"text": TEXT.format(n=n), "author_id": f"bare-{n % 997}"})
                copy.write(f"{case_id}\tbare-{case_id}\t{content}\tanalyzing\t1\t0\t1\tbare{tail}\n")
    return ids


# The reference keeps the analyser of before the cascade (issue 21): the fast model alone, reviewing
# at 0.5 (an empty band there), so the encoder's cost shows in Vigil's ratio to it.
FAST_ONLY = {"analyser_band_low": 0.5, "analyser_band_high": 0.5}


def _graph_deps(settings: Settings, *, pool: ConnectionPool, threads: int, platform: Platforms,
                closers: list) -> GraphDeps:
    """The graph's dependencies wired as services/worker/main.py wires them, for whichever version of
    them this is: the ledger over a psycopg pool (`db`) or SQLAlchemy sessions, and the graph's
    other fields by name. The one place the bench leans on the worker's internals."""
    made: dict = {}

    def sessions():
        if "sessions" not in made:
            engine = make_engine(settings, pool_size=threads + 2)
            closers.append(engine.dispose)
            made["sessions"] = make_sessionmaker(engine)
        return made["sessions"]

    takes = inspect.signature(ActionLedger).parameters
    ledger = ActionLedger(platform=platform, **({"db": pool} if "db" in takes else {"sessions": sessions()}))
    offered = {"analyser": lambda: make_analyser(settings.model_copy(update=FAST_ONLY)), "ledger": lambda: ledger,
               "reanalyze_limit": lambda: settings.reanalyze_limit, "sessions": sessions}
    return GraphDeps(**{field.name: offered[field.name]() for field in dataclasses.fields(GraphDeps)})


def run(settings: Settings, *, count: int, threads: int) -> BareRun:
    # LangGraph's documented connection settings for PostgresSaver (it asks for dict rows per cursor)
    pool = ConnectionPool(settings.libpq_url, min_size=threads, max_size=2 * threads + 1, open=True,
                          kwargs={"autocommit": True, "prepare_threshold": 0})
    platform = Platforms(db=pool, settings=settings)  # the ledger's: each tenant's connection, or the default
    closers: list = [pool.close, platform.close]
    try:
        deps = _graph_deps(settings, pool=pool, threads=threads, platform=platform, closers=closers)
        return _timed_loop(settings, graph=build_graph(deps), analyser=deps.analyser, pool=pool, count=count,
                           threads=threads)
    finally:
        for close in reversed(closers):
            close()


def _timed_loop(settings: Settings, *, graph, analyser, pool: ConnectionPool, count: int, threads: int) -> BareRun:
    local = threading.local()
    errors: list[str] = []

    def compiled():
        if getattr(local, "graph", None) is None:
            local.graph = graph.compile(checkpointer=PostgresSaver(pool))  # one saver per thread: it locks
        return local.graph

    def pause(args: tuple[int, str]) -> None:
        n, case_id = args
        try:
            compiled().invoke({"case_id": case_id, "external_id": f"bare-{case_id}",
                               "content": {"text": TEXT.format(n=n), "author_id": f"bare-{n % 997}"},
                               "round": 1, "attempt": 0},
                              {"configurable": {"thread_id": case_id}}, durability="exit")
        except Exception as error:  # counted and reported: the reference must not hide failures
            errors.append(repr(error))

    def resume(case_id: str) -> None:
        try:
            compiled().invoke(Command(resume={"decision": "remove", "note": None, "by": "x"}),
                              {"configurable": {"thread_id": case_id}}, durability="exit")
        except Exception as error:
            errors.append(repr(error))

    ids = _insert_cases(settings, count)
    analyser.analyse(text="warm up the analyser's models before the clock starts")
    with ThreadPoolExecutor(threads) as executor:
        started, cpu = time.perf_counter(), _cpu()
        list(executor.map(pause, enumerate(ids)))
        paused, paused_cpu = time.perf_counter() - started, _cpu() - cpu
        started, cpu = time.perf_counter(), _cpu()
        list(executor.map(resume, ids))
        resumed, resumed_cpu = time.perf_counter() - started, _cpu() - cpu
    return BareRun(paused_seconds=paused, resumed_seconds=resumed, paused_cpu=paused_cpu, resumed_cpu=resumed_cpu,
                   cases=count, errors=len(errors), first_error=errors[0] if errors else "")
