"""`vigil worker`: N processes, each with its pool, compiled graphs and Dramatiq worker threads."""

import logging
import multiprocessing
import signal
import threading
from datetime import timedelta

import dramatiq

from shared.broker import make_broker
from shared.logging import setup_logging
from shared.settings import Settings
from services.worker.actors import declare_actors
from shared.quality import Rates
from services.worker.analysis import EmbeddedAnalyser, make_analyser
from services.worker.analysis.registry import TenantAnalyser
from services.worker.analysis.encoder import MODEL_DIR, Encoder
from services.worker.connections import Platforms
from services.worker.checkpoints import GraphPerThread, open_pool
from services.worker.graph import GraphDeps, build_graph
from services.worker.inline import run_saves_inline
from services.worker.ledger import ActionLedger
from shared.metrics import serve_metrics
from services.worker.runner import CaseRunner
from services.worker.statements import StatementsOfReasons

log = logging.getLogger(__name__)


def build_runner(settings: Settings, *, threads: int) -> tuple[CaseRunner, list]:
    """Everything one worker process needs, opened once; returns the runner and what to close."""
    run_saves_inline()
    pool = open_pool(settings.libpq_url, threads=threads, statement_timeout_ms=settings.db_statement_timeout_ms)
    platforms = Platforms(db=pool, settings=settings)
    analyser = make_analyser(settings)
    closers = [platforms.close, pool.close]
    if isinstance(analyser, EmbeddedAnalyser):  # a remote analyser is the team's own: it picks its model
        analyser = TenantAnalyser(base=analyser, conninfo=settings.libpq_url, cache_seconds=settings.model_cache_seconds)
        closers.append(analyser.close)
    deps = GraphDeps(
        analyser=analyser,
        ledger=ActionLedger(db=pool, platform=platforms),
        reanalyze_limit=settings.reanalyze_limit,
    )
    runner = CaseRunner(
        db=pool,
        graphs=GraphPerThread(graph=build_graph(deps), pool=pool),
        ledger=deps.ledger,
        max_attempts=settings.step_max_attempts,
        lock_timeout_ms=settings.case_lock_timeout_ms,
        appeal_window=timedelta(days=settings.appeal_window_days),
        statements=StatementsOfReasons.of(settings),
        rates=Rates.parse(settings.qa_rates, auto=settings.qa_auto_rate, human=settings.qa_human_rate),
    )
    return runner, closers


def serve(settings: Settings, *, threads: int, metrics_port: int) -> None:
    """Run one worker process until SIGTERM or SIGINT, then finish or requeue what it holds."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    broker = make_broker(settings)
    runner, closers = build_runner(settings, threads=threads)
    declare_actors(broker=broker, runner=runner, queue_name=settings.queue_name)
    serve_metrics(metrics_port, component="worker")
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    log.info("worker consuming %s with %d threads", settings.queue_name, threads)
    stopping.wait()
    log.info("stopping: finishing the messages in hand, returning the rest to RabbitMQ")
    worker.stop(timeout=30_000)
    broker.close()
    for close in closers:
        close()


def _child(settings: Settings, threads: int, metrics_port: int) -> None:
    setup_logging("worker")
    serve(settings, threads=threads, metrics_port=metrics_port)


def run(settings: Settings, *, processes: int, threads: int) -> None:
    port = settings.worker_metrics_port
    if processes <= 1:
        serve(settings, threads=threads, metrics_port=port)
        return
    # A missing or corrupt encoder stops the start here, once, instead of in every child after the spawn.
    Encoder(folder=settings.analyser_encoder_dir or MODEL_DIR)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_child, args=(settings, threads, port + n if port else 0), name=f"worker-{n}")
        for n in range(processes)
    ]
    for child in children:
        child.start()

    def stop_children(*_: object) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: each child stops gracefully

    signal.signal(signal.SIGTERM, stop_children)
    signal.signal(signal.SIGINT, stop_children)
    for child in children:
        child.join()
