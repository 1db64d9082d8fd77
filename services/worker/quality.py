"""The worker's share of quality sampling (shared/quality.py) and of shadow scoring.

- `reviewed`: the analysis of a case a quality reviewer reopened says so, and sends it to a person
  at high priority, whatever the model says now;
- `samples`: the draw for a case that closes in this turn (on its own, or on a first-round
  decision), a row when it is drawn;
- `shadow_recorded`: what a shadowed candidate said of the analysis this turn made, once per
  analysis (its key), for the promotion gate.
"""

from typing import Any

from psycopg.types.json import Jsonb

from shared import quality
from shared.domain import SEVERITIES, Status
from shared.quality import Rates
from shared.statements import QUALITY_REVIEW
from shared.transitions import Statement
from services.worker.review import APPEAL_PAUSE
from services.worker.turn import CaseView

def reviewed(analysis: dict, qa: dict) -> dict:
    found = qa.get("violation") or "a violation"
    reasons = [f"a quality reviewer found {found} after it closed on its own"
               + (f": {qa['note']}" if qa.get("note") else ""), *analysis.get("reasons", [])]
    severity = max(analysis.get("severity", "none"), "high", key=SEVERITIES.index)
    return analysis | {"needs_review": True, "reasons": reasons, "severity": severity, "found_by": QUALITY_REVIEW,
                       "suggested_decision": qa.get("decision") or analysis.get("suggested_decision"),
                       "category": qa.get("violation") if analysis.get("category") == "clean" and qa.get("violation")
                       else analysis.get("category")}


def samples(case: CaseView, rest: Any, *, rates: Rates) -> list[Statement]:
    """The sample row of a case this turn closes (on its own, or on a first-round decision: `rest`
    is where its graph rests), if the draw says so."""
    values = rest.values
    if case.status not in (Status.ANALYZING, Status.EXECUTING):
        return []  # it rested there before this turn (a nudge, a stray message): drawn when it got there
    if rest.ended:
        kind, first, round = quality.AUTO, None, values["round"]
    elif rest.pause is not None and rest.pause["kind"] == APPEAL_PAUSE and rest.pause["round"] == 1:
        kind, first, round = quality.HUMAN, (values.get("decision") or {}).get("decision"), 1
    else:
        return []
    analysis = values.get("analysis") or {}
    rate = rates.of(kind=kind, tenant=case.tenant, category=analysis.get("category") or "clean")
    drawn = quality.draw()
    if drawn >= rate:
        return []
    return [Statement(quality.SAMPLE, quality.sample_params(
        case_id=case.id, tenant=case.tenant, round=round, kind=kind, analysis=analysis, first_decision=first,
        rate=rate, drawn=drawn))]


SHADOW = """
    INSERT INTO shadow_scores (case_id, round, attempt, model_id, tenant, needs_review, active_model,
                               active_needs_review, scores)
    VALUES (%(case_id)s, %(round)s, %(attempt)s, %(model)s, %(tenant)s, %(needs_review)s, %(active)s,
            %(active_needs_review)s, %(scores)s)
    ON CONFLICT DO NOTHING"""


def shadow_recorded(case: CaseView, *, analysis: dict, round: int, attempt: int) -> list[Statement]:
    shadow: Any = analysis.get("shadow")
    if not shadow:
        return []
    return [Statement(SHADOW, {"case_id": case.id, "round": round, "attempt": attempt, "model": shadow["model"],
                               "tenant": case.tenant, "needs_review": shadow["needs_review"],
                               "active": (analysis.get("models") or {}).get("fast", ""),
                               "active_needs_review": analysis.get("needs_review", True),
                               "scores": Jsonb(shadow.get("scores") or {})})]
