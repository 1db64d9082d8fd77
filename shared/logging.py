"""Process-wide logging: one line per record, with the process name, never a secret."""

import logging
import os


def setup_logging(component: str) -> None:
    level = os.environ.get("VIGIL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {component}[%(process)d] %(name)s: %(message)s",
    )
    # httpx would log every platform URL at INFO; pika logs each failed reconnect as a traceback,
    # while the relay and Dramatiq already report an outage in one line each.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.CRITICAL)
