"""Prometheus metrics of `vigil scheduler`: what each rule did, and how overdue the review queue is.

`vigil_scheduler_rows_total{rule}` counts cases (or events) per rule: `finalized` (appeal windows
closed), `purged` (final cases past AUDIT_RETENTION_DAYS), `events_purged`, besides the review desk's.
A purged case's own audit trail goes with it, so `vigil_retention_rows_purged_total{table}` (and the
scheduler's log line) is the record of what retention deleted."""

from prometheus_client import Counter, Gauge

APPLIED = Counter("vigil_scheduler_rows_total", "Cases a timed rule acted on", ["rule"])
PASSES = Counter("vigil_scheduler_passes_total", "Passes of every rule")
PURGED = Counter("vigil_retention_rows_purged_total",
                 "Rows retention deleted: checkpoints of final cases, purged cases' attached rows, settled events",
                 ["table"])  # "checkpoints": rows of the three checkpoint tables
OVERDUE = Gauge("vigil_cases_overdue", "Cases awaiting review past their deadline (after the last pass)")
