"""The FastAPI application, built by a factory from settings: no import-time side effects."""

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.settings import Settings
from shared.transitions import Wakeups
from services.api.auth import KeyCache
from services.api.db import make_pool
from services.api.errors import BodyLimit, install_handlers
from services.api.commits import Decisions, Intake
from services.api.metrics import install_metrics
from services.api.ratelimit import RateLimit
from services.api.security import SecurityHeaders
from services.api.slowclients import BodyDeadline
from services.api.routes import cases, connections, health, me, page, qa, queue, reports, webhooks
from services.api.strict import CanonicalPath

WAKE_RELAYS_EVERY = 0.05  # seconds: at most 20 notifying intakes a second per process

DESCRIPTION = """Vigil's API. Every call but the health checks carries `X-API-Key`; a key has one role
(upstream, moderator, supervisor, admin). Commands answer 202: the worker carries them out, and
`GET /v1/cases/{case_id}` shows where a case is."""


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The pool belongs to the event loop that serves: opened here, not when the app is built.
        app.state.pool = make_pool(settings)
        await app.state.pool.open(wait=False)
        # One per process: new cases and decisions share the NOTIFY budget (see Wakeups) and are
        # group-committed (see commits.py).
        app.state.wakeups = Wakeups(interval=WAKE_RELAYS_EVERY)
        app.state.intake = Intake(pool=app.state.pool, wakeups=app.state.wakeups)
        app.state.decisions = Decisions(pool=app.state.pool, wakeups=app.state.wakeups)
        # What was built at start-up lives as long as the process: keep it out of the collector's
        # full passes, which otherwise show up as the tail of the request latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="Vigil", version="1", description=DESCRIPTION, lifespan=lifespan, redirect_slashes=False,
                  docs_url=None, redoc_url=None)  # /docs is served offline by routes/page.py
    app.state.settings = settings
    app.state.keys = KeyCache(ttl=settings.key_cache_seconds)
    install_handlers(app)
    app.include_router(cases.router)
    app.include_router(queue.router)
    app.include_router(webhooks.router)
    app.include_router(connections.router)
    app.include_router(reports.router)
    app.include_router(qa.router)
    app.include_router(me.router)
    app.include_router(health.router)
    app.include_router(page.router)
    install_metrics(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout)
    app.add_middleware(CanonicalPath)
    # A flood is refused before its body is read or a key is looked up; every answer, a 429 too,
    # carries the security headers.
    app.add_middleware(RateLimit, settings=settings, exempt_paths=("/healthz", "/readyz", "/metrics"))
    app.add_middleware(SecurityHeaders)
    return app
