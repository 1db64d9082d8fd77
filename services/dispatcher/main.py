"""`vigil dispatcher`: delivers the events outbox to the subscribers until SIGTERM or SIGINT.

Several may run: each claims rows under a lease (SKIP LOCKED), so they share the work, and the
rows of one that dies come back when its leases lapse. A database that goes away is waited for."""

import asyncio
import logging
import signal

from psycopg_pool import AsyncConnectionPool

from shared.metrics import serve_metrics
from shared.db import check_when_idle
from shared.settings import Settings
from shared import backoff
from services.dispatcher import statements
from services.dispatcher.dispatcher import Dispatcher
from services.dispatcher.recorder import DATABASE_AWAY

log = logging.getLogger(__name__)
def make_pool(settings: Settings) -> AsyncConnectionPool:
    return AsyncConnectionPool(settings.libpq_url, min_size=1, max_size=settings.db_pool_size, timeout=5.0,
                               open=False, check=check_when_idle,
                               kwargs={"autocommit": True, "connect_timeout": settings.db_connect_timeout,
                                       "options": f"-c statement_timeout={settings.db_statement_timeout_ms}"})


async def configure_statements(pool: AsyncConnectionPool, settings: Settings, stopping: asyncio.Event) -> None:
    failures = 0
    while not stopping.is_set():
        try:
            async with pool.connection() as conn:
                await statements.configure(conn, settings)
            return
        except DATABASE_AWAY as error:
            failures += 1
            pause = backoff.delay(attempts=failures, base=1.0, cap=30.0)
            log.warning("cannot write the statements subscriber (%s); again in %.1fs", type(error).__name__, pause)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=pause)
            except TimeoutError:
                pass


async def serve(settings: Settings, *, stopping: asyncio.Event) -> None:
    """The dispatcher until `stopping` is set (by a signal, or by a test from another thread)."""
    pool = make_pool(settings)
    await pool.open(wait=False)
    try:
        await configure_statements(pool, settings, stopping)
        log.info("dispatcher running (timeout %gs, %d in flight per subscriber, %d attempts)",
                 settings.webhook_timeout, settings.webhook_concurrency, settings.webhook_max_attempts)
        await Dispatcher(pool=pool, settings=settings).run(stopping=stopping)
    finally:
        await pool.close()
    log.info("dispatcher stopped")


async def _until_signalled(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await serve(settings, stopping=stopping)


def run(settings: Settings) -> None:
    serve_metrics(settings.dispatcher_metrics_port, component="dispatcher")
    asyncio.run(_until_signalled(settings))
