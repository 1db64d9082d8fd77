"""The FastAPI application, built by a factory from settings: no import-time side effects."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.db import make_engine, make_sessionmaker
from shared.settings import Settings
from services.api.errors import BodyLimit, install_handlers
from services.api.metrics import install_metrics
from services.api.routes import cases, health, me, page

DESCRIPTION = """Vigil's API. Every call but the health checks carries `X-API-Key`; a key has one role
(upstream, moderator, supervisor, admin). Commands answer 202: the worker carries them out, and
`GET /v1/cases/{case_id}` shows where a case is."""


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.dispose()

    app = FastAPI(title="Vigil", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = make_sessionmaker(engine)
    install_handlers(app)
    install_metrics(app)
    app.include_router(cases.router)
    app.include_router(me.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
