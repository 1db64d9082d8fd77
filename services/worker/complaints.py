"""The outcome of a complaint, for the platform that forwarded it: when the review round a
complaint opened closes, the turn's closing batch appends a `complaint.decided` event (once per
complaint: its dedupe key) naming the platform's reference, who complained and on what basis, the
decision appealed, the decision now, and the outcome: upheld, reversed or made stricter. The
platform tells the person; the complaint's text stays here."""

from typing import Any

from psycopg.types.json import Jsonb

from shared import events
from shared.domain import SUPERVISOR_APPEAL, appeal_outcome
from shared.transitions import Statement
from services.worker.review import REVIEW_PAUSE
from services.worker.turn import CaseView


def with_move(case: CaseView, rest: Any) -> list[Statement]:
    """The event to append after the move to where the graph rests, if it decided a complaint."""
    pause = rest.pause
    if pause is None or pause["kind"] == REVIEW_PAUSE or pause["round"] < 2:
        return []
    complained = case.appeal(round=pause["round"] - 1)
    if complained is None or complained.get("source", SUPERVISOR_APPEAL) == SUPERVISOR_APPEAL:
        return []
    appealed = _final_decision(case, round=pause["round"] - 1)
    decided = (rest.values.get("decision") or {}).get("decision")
    data = {"reference": complained["reference"], "complainant": complained["source"], "basis": complained["basis"],
            "round": pause["round"], "appealed_decision": appealed, "decision": decided,
            "outcome": appeal_outcome(appealed, decided)}
    return [Statement(events.EMIT, {"case_id": case.id, "type": events.COMPLAINT_DECIDED, "data": Jsonb(data),
                                    "dedupe_key": f"complaint:{case.id}:{complained['reference']}"})]


def _final_decision(case: CaseView, *, round: int) -> str | None:
    """The round's last decision that was not a request to analyse again."""
    made = [(attempt, d["decision"]) for (r, attempt), d in case.decisions.items()
            if r == round and d["decision"] != "reanalyze"]
    return max(made)[1] if made else None
