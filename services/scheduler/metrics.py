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
# The automated means' error rates over the last 28 days of quality reviews (services/scheduler/quality.py),
# per tenant ("*": all), each with its 95% interval (bound = rate | ci95_low | ci95_high); NaN without samples.
MISS_RATE = Gauge("vigil_qa_miss_rate", "Share of sampled automatic closures a QA reviewer found violating",
                  ["tenant", "bound"])
FALSE_ALARM_RATE = Gauge("vigil_qa_false_alarm_rate", "Share of sampled cases sent to review a QA reviewer found "
                         "not violating", ["tenant", "bound"])
KAPPA = Gauge("vigil_qa_agreement_kappa", "Cohen's kappa of first and QA decisions", ["tenant"])
QA_OPEN = Gauge("vigil_qa_samples_open", "Samples waiting for a QA reviewer")
