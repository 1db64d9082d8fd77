"""Quality sampling: a random share of closed cases gets a blind second look.

When a case closes on its own (`auto`) or on a person's first-round decision (`human`), the worker
draws a number from the operating system's random source in the closing transaction; under the
tenant's and category's rate (settings QA_AUTO_RATE, QA_HUMAN_RATE, QA_RATES) the case is a sample,
recorded with its draw and rate. Nothing the upstream sends enters the draw, and nothing of it is
shown to the upstream. The scheduler tops a tenant's automatic closures of the day up to
QA_DAILY_MINIMUM samples, drawn at random among those not drawn yet.

A QA reviewer (role `qa`) takes the oldest open sample (`NEXT`), sees the content and its context
but neither the analysis nor the first decision, and decides as a moderator would. An automatic
closure found violating goes back to a person: the case reopens as a new review round at high
priority (the api's `reopen` move, the worker's `services.worker.quality.reviewed`), so the platform
acts through the usual path. The reviews give the error rates (`shared.accuracy`).
"""

import random
from dataclasses import dataclass, field
from typing import Any

_DRAW = random.SystemRandom()

AUTO, HUMAN = "auto", "human"


class RatesError(ValueError):
    """QA_RATES is not "tenant:category=rate,..." with rates between 0 and 1."""


@dataclass(frozen=True)
class Rates:
    auto: float = 0.02
    human: float = 0.01
    overrides: dict[tuple[str, str], float] = field(default_factory=dict)  # (tenant, category) → rate, * = any

    @classmethod
    def parse(cls, value: str, *, auto: float, human: float) -> "Rates":
        overrides = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            key, _, rate = entry.partition("=")
            tenant, colon, category = key.partition(":")
            try:
                number = float(rate)
            except ValueError:
                number = -1.0
            if not colon or not tenant or not category or not 0 <= number <= 1:
                raise RatesError(f"QA_RATES entry {entry!r}: write tenant:category=rate (rate 0..1, * for any)")
            overrides[(tenant, category)] = number
        return cls(auto=auto, human=human, overrides=overrides)

    def of(self, *, kind: str, tenant: str, category: str) -> float:
        for key in ((tenant, category), (tenant, "*"), ("*", category), ("*", "*")):
            if key in self.overrides:
                return self.overrides[key]
        return self.auto if kind == AUTO else self.human


def draw() -> float:
    return _DRAW.random()


# A sample, written after the move that closes its case in the same batch, if the case did move
# (ON CONFLICT: a turn that runs again draws no second one).
SAMPLE = """
    INSERT INTO qa_samples (id, case_id, tenant, round, kind, category, model, first_decision, rate, draw, reason,
                            closed_at)
    SELECT gen_random_uuid(), %(case_id)s, %(tenant)s, %(round)s, %(kind)s, %(category)s, %(model)s,
           %(first_decision)s, %(rate)s, %(draw)s, 'rate', now()
    FROM cases WHERE id = %(case_id)s AND status = %(status)s AND review_round = %(round)s
    ON CONFLICT (case_id, round) DO NOTHING"""


def sample_params(*, case_id: Any, tenant: str, round: int, kind: str, analysis: dict, first_decision: str | None,
                  rate: float, drawn: float) -> dict[str, Any]:
    return {"case_id": case_id, "tenant": tenant, "round": round, "kind": kind,
            "status": "auto_closed" if kind == AUTO else "closed",
            "category": analysis.get("category") or "clean", "model": (analysis.get("models") or {}).get("fast", ""),
            "first_decision": first_decision, "rate": rate, "draw": drawn}


# Today's automatic closures of each tenant topped up to %(minimum)s samples, the extra ones drawn at
# random among those not drawn; their rate is the chance each of those had.
TOP_UP = """
    WITH unsampled AS (
        SELECT c.id, c.tenant, c.review_round, c.analysis, c.final_at,
               row_number() OVER (PARTITION BY c.tenant ORDER BY random()) AS pick,
               count(*) OVER (PARTITION BY c.tenant) AS available
        FROM cases c
        WHERE c.status = 'auto_closed' AND c.final_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
          AND NOT EXISTS (SELECT 1 FROM qa_samples q WHERE q.case_id = c.id)
    ), drawn AS (
        SELECT tenant, count(*) AS n FROM qa_samples
        WHERE kind = 'auto' AND closed_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        GROUP BY tenant
    ), added AS (
        INSERT INTO qa_samples (id, case_id, tenant, round, kind, category, model, rate, reason, closed_at)
        SELECT gen_random_uuid(), u.id, u.tenant, u.review_round, 'auto', coalesce(u.analysis ->> 'category', 'clean'),
               coalesce(u.analysis -> 'models' ->> 'fast', ''),
               least(1.0, (%(minimum)s - coalesce(d.n, 0))::float8 / u.available), 'daily_minimum', u.final_at
        FROM unsampled u LEFT JOIN drawn d ON d.tenant = u.tenant
        WHERE u.pick <= %(minimum)s - coalesce(d.n, 0)
        ON CONFLICT (case_id, round) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM added"""

# The oldest open sample whose case is still kept, claimed for the reviewer (what they held before is
# let go: one at a time). What the reviewer sees: the content and its context, no verdict.
NEXT = """
    WITH released AS (
        UPDATE qa_samples SET claimed_by = NULL, claim_expires_at = NULL
        WHERE claimed_by = %(by)s AND reviewed_at IS NULL
    ), candidate AS (
        SELECT q.id FROM qa_samples q
        WHERE q.reviewed_at IS NULL AND q.case_id IS NOT NULL
          AND (q.claimed_by IS NULL OR q.claim_expires_at <= now() OR q.claimed_by = %(by)s)
        ORDER BY q.drawn_at, q.id LIMIT 1
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE qa_samples q SET claimed_by = %(by)s, claim_expires_at = now() + %(lease)s
        FROM candidate WHERE q.id = candidate.id
        RETURNING q.id, q.case_id, q.claim_expires_at
    )
    SELECT claimed.id, claimed.claim_expires_at, c.tenant, c.content, c.metadata, c.created_at, c.analysis
    FROM claimed JOIN cases c ON c.id = claimed.case_id"""

# The reviewer's decision of the sample they hold; it reopens an automatic closure found violating.
DECIDE = """
    UPDATE qa_samples SET reviewed_by = %(by)s, decision = %(decision)s, violation = %(violation)s, note = %(note)s,
                          reviewed_at = now(), claimed_by = NULL, claim_expires_at = NULL,
                          reopened = (kind = 'auto' AND %(decision)s <> 'dismiss' AND case_id IS NOT NULL)
    WHERE id = %(id)s AND reviewed_at IS NULL AND claimed_by = %(by)s AND claim_expires_at > now()
    RETURNING case_id, round, kind, reopened"""
