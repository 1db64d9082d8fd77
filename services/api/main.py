"""`vigil api`: serve the application with uvicorn, in one process or several."""

import uvicorn
from fastapi import FastAPI

from shared.settings import Settings, get_settings
from services.api.app import create_app
from services.api.slowclients import HttpToolsWithDeadlines


def app_from_environment() -> FastAPI:
    """The factory each uvicorn worker process calls: settings come from its environment."""
    return create_app(get_settings())


def run(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    # uvloop and httptools: the fastest event loop and HTTP parser uvicorn has; the protocol adds a
    # deadline for request headers, which uvicorn itself does not have.
    options = {"host": host, "port": port, "log_level": "warning", "access_log": False,
               "loop": "uvloop", "http": HttpToolsWithDeadlines,
               "log_config": None}  # uvicorn's own loggers go through Vigil's JSON lines too
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:  # uvicorn starts each worker from an import string
        uvicorn.run("services.api.main:app_from_environment", factory=True, workers=workers, **options)
