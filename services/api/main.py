"""`vigil api`: serve the application with uvicorn."""

import uvicorn

from shared.settings import Settings
from services.api.app import create_app


def run(settings: Settings, *, host: str, port: int) -> None:
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
