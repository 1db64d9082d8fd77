"""Serving a process's Prometheus metrics: the relay, the worker and the scheduler each on a port."""

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(port: int, *, component: str) -> bool:
    """Serve `/metrics` on `port` (0: not at all); True when served. Metrics are for watching: a
    busy port (a second process on one host) must not stop the process from doing its work."""
    if not port:
        return False
    try:
        start_http_server(port)
    except OSError as error:
        log.error("%s metrics not served on port %d: %s", component, port, error)
        return False
    log.info("%s metrics on :%d/metrics", component, port)
    return True
