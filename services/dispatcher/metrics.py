"""Prometheus metrics of `vigil dispatcher`, per subscriber (labelled by webhook id).

Every dispatcher reports the same backlog gauges; with several dispatchers take their max."""

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter("vigil_webhook_deliveries", "Delivery attempts by outcome (delivered, retry, dead)",
                     ["webhook", "outcome"])
LATENCY = Histogram("vigil_webhook_delivery_seconds", "One POST to a subscriber, answer included", ["webhook"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PENDING = Gauge("vigil_webhook_pending", "Deliveries waiting (due, backing off or in flight)", ["webhook"])
OLDEST_PENDING_AGE = Gauge("vigil_webhook_oldest_pending_age_seconds", "Age of the oldest pending delivery (0 if none)",
                           ["webhook"])
DEAD = Gauge("vigil_webhook_dead", "Deliveries that gave up, until replayed", ["webhook"])
GAUGES = (PENDING, OLDEST_PENDING_AGE, DEAD)
