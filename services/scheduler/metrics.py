"""Prometheus metrics of `vigil scheduler`: what each rule did, and how overdue the review queue is."""

from prometheus_client import Counter, Gauge

APPLIED = Counter("vigil_scheduler_rows_total", "Cases a timed rule acted on", ["rule"])
PASSES = Counter("vigil_scheduler_passes_total", "Passes of every rule")
OVERDUE = Gauge("vigil_cases_overdue", "Cases awaiting review past their deadline (after the last pass)")
