"""The review payload: everything the moderator page needs to render a case and its decision form."""

from typing import Any

from shared.domain import Decision

FINAL_DECISIONS = [Decision.DISMISS, Decision.WARN, Decision.REMOVE, Decision.REMOVE_AND_BAN]


def allowed_decisions(*, attempt: int, reanalyze_limit: int) -> list[str]:
    decisions = [str(decision) for decision in FINAL_DECISIONS]
    if attempt < reanalyze_limit:
        decisions.append(str(Decision.REANALYZE))
    return decisions


def decision_schema(allowed: list[str], *, suggested: str | None = None) -> dict[str, Any]:
    """A JSON schema for the decision form, so a new decision type needs no page change."""
    decision = {"type": "string", "enum": allowed, "title": "Decision"}
    if suggested in allowed:
        decision["default"] = suggested  # the analyser's suggestion, preselected
    return {
        "type": "object",
        "required": ["decision"],
        "additionalProperties": False,
        "properties": {
            "decision": decision,
            "note": {
                "type": "string",
                "maxLength": 2000,
                "title": "Note",
                "description": "Why; required for reanalyze, where it is the feedback for the analyser.",
            },
        },
    }


# The two kinds of pause a case graph makes, as its interrupt() payloads name them.
REVIEW_PAUSE = "review"
APPEAL_PAUSE = "appeal_window"


def review_payload(
    *, case_id: str, round: int, attempt: int, content: dict, analysis: dict, reanalyze_limit: int
) -> dict[str, Any]:
    allowed = allowed_decisions(attempt=attempt, reanalyze_limit=reanalyze_limit)
    return {
        "kind": REVIEW_PAUSE,
        "case_id": case_id,
        "round": round,
        "attempt": attempt,
        "content": content,
        # a candidate's shadow verdict is for the gate, not for the person deciding
        "analysis": {key: value for key, value in analysis.items() if key != "shadow"},
        "allowed_decisions": allowed,
        "decision_schema": decision_schema(allowed, suggested=analysis.get("suggested_decision")),
    }
