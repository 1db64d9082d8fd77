"""Quality sampling's timed share: each tenant's automatic closures of the day topped up to
QA_DAILY_MINIMUM samples, and the error rates of the last four weeks as Prometheus gauges
(recomputed at most once a minute: they move with reviews, which come at a person's pace)."""

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from shared import accuracy, quality
from services.scheduler import metrics

WINDOW = timedelta(days=28)
EVERY_SECONDS = 60.0
OPEN = "SELECT count(*) FROM qa_samples WHERE reviewed_at IS NULL AND case_id IS NOT NULL"


def top_up_samples(conn: Connection, *, minimum: int) -> int:
    if minimum <= 0:
        return 0
    return conn.exec_driver_sql(quality.TOP_UP, {"minimum": minimum}).scalar()


class ErrorRateGauges:
    def __init__(self) -> None:
        self._published_at = float("-inf")

    def publish(self, conn: Connection) -> bool:
        if time.monotonic() - self._published_at < EVERY_SECONDS:
            return False
        self._published_at = time.monotonic()
        end = datetime.now(UTC)
        rows = [row._asdict() for row in conn.exec_driver_sql(accuracy.REVIEWED, {"start": end - WINDOW, "end": end})]
        section = accuracy.report(rows)
        for tenant, figures in {"*": section["overall"], **section["by_tenant"]}.items():
            for name, gauge in (("miss_rate", metrics.MISS_RATE), ("false_alarm_rate", metrics.FALSE_ALARM_RATE)):
                for bound in ("rate", "ci95_low", "ci95_high"):
                    value = figures[name][bound]
                    gauge.labels(tenant, bound).set(float("nan") if value is None else value)
            kappa = figures["agreement"]["kappa"]
            metrics.KAPPA.labels(tenant).set(float("nan") if kappa is None else kappa)
        metrics.QA_OPEN.set(conn.exec_driver_sql(OPEN).scalar())
        return True
