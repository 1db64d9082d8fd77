"""Process-wide logging: one JSON object per line, so a case can be followed across processes.

Each line has time, level, component, pid, logger and message, and `case_id` when the record is
about a case: passed as `extra={"case_id": ...}`, or set for the message in hand with
`case_context` (the worker's runner does). Exceptions come as one `exc` string, never a secret.
"""

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

CASE_ID: ContextVar[str | None] = ContextVar("case_id", default=None)


@contextmanager
def case_context(case_id: str) -> Iterator[None]:
    """Every record logged in this block (in this thread or task) carries the case id."""
    token = CASE_ID.set(case_id)
    try:
        yield
    finally:
        CASE_ID.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self._component = component

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "component": self._component,
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        case_id = getattr(record, "case_id", None) or CASE_ID.get()
        if case_id is not None:
            line["case_id"] = str(case_id)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(component: str) -> None:
    level = os.environ.get("VIGIL_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx would log every platform URL at INFO; pika logs each failed reconnect as a traceback,
    # while the relay and Dramatiq already report an outage in one line each.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.CRITICAL)
