"""Process-wide logging: one line per record, with the process name, never a secret."""

import logging
import os


def setup_logging(component: str) -> None:
    level = os.environ.get("VIGIL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {component}[%(process)d] %(name)s: %(message)s",
    )
    # pika and httpx are chatty at INFO and httpx would log every platform URL.
    for noisy in ("pika", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
