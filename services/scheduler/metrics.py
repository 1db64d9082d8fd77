"""Prometheus metrics of `vigil scheduler`: what each rule did, and how overdue the review queue is."""

import logging

from prometheus_client import Counter, Gauge, start_http_server

log = logging.getLogger(__name__)

APPLIED = Counter("vigil_scheduler_rows_total", "Cases a timed rule acted on", ["rule"])
PASSES = Counter("vigil_scheduler_passes_total", "Passes of every rule")
OVERDUE = Gauge("vigil_cases_overdue", "Cases awaiting review past their deadline (after the last pass)")


def serve_metrics(port: int) -> None:
    if not port:
        return
    try:
        start_http_server(port)
    except OSError as error:  # the port is taken: the scheduler still works, unwatched
        log.error("scheduler metrics not served on port %d: %s", port, error)
    else:
        log.info("scheduler metrics on :%d/metrics", port)
