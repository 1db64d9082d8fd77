"""The worker's Prometheus metrics: what the benchmark measures, an operator watches.

Served by `shared.metrics.serve_metrics` on `worker_metrics_port` (each process of
`vigil worker --processes N` on port + its index); 0 turns it off.
"""

from prometheus_client import Counter, Histogram

# From a few milliseconds (a step) to the hours a case may wait for a person.
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_CASE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)

MESSAGES = Counter(
    "vigil_worker_messages", "Messages handled, by command kind and outcome", ["kind", "outcome"])
STEP_SECONDS = Histogram(
    "vigil_worker_step_seconds", "Time to handle one message, lock to unlock, by command kind", ["kind"],
    buckets=_STEP_BUCKETS)
RECEIVED_TO_REVIEW = Histogram(
    "vigil_case_received_to_awaiting_review_seconds",
    "From a case's creation to its first pause for review", buckets=_CASE_BUCKETS)
DECISION_TO_CLOSED = Histogram(
    "vigil_case_decision_to_closed_seconds",
    "From a decision on record to the case closed with its actions executed", buckets=_CASE_BUCKETS)
