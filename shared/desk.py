"""The review desk in SQL: who may decide a case awaiting review, claims on it, the most urgent
case for a reviewer, and what the review targets are. The api, the scheduler and `vigil migrate`
use these; a case's status still moves only through `shared.transitions`."""

from datetime import timedelta
from typing import Any

from shared.domain import SEVERITY_PRIORITY

# Whether %(by)s with role %(role)s may decide review case `c`: a moderator decides round 1 unless
# it was escalated to the supervisors; a supervisor decides an escalated round 1, and a later round
# when they neither made the decision under appeal nor filed the appeal (four eyes). A later round
# opened by a complaint (the affected user's or the notifier's), or by a quality reviewer who found
# an automatic closure violating, is decided by a moderator or a supervisor who decided no earlier
# round of the case.
_COMPLAINT = """EXISTS (SELECT 1 FROM appeals a WHERE a.case_id = c.id AND a.round = c.review_round - 1
                         AND a.source <> 'supervisor')
                 OR EXISTS (SELECT 1 FROM qa_samples q WHERE q.case_id = c.id AND q.round = c.review_round - 1
                            AND q.reopened)"""
_NEW_TO_THE_CASE = """NOT EXISTS (SELECT 1 FROM decisions d WHERE d.case_id = c.id AND d.round < c.review_round
                                  AND d.decided_by = %(by)s AND d.decision <> 'reanalyze')"""
MAY_DECIDE = f"""(
    CASE WHEN c.review_round > 1 AND {_COMPLAINT} THEN %(role)s IN ('moderator', 'supervisor') AND {_NEW_TO_THE_CASE}
    ELSE CASE %(role)s
    WHEN 'moderator' THEN c.review_round = 1 AND NOT c.escalated_to_supervisors
    WHEN 'supervisor' THEN (c.review_round = 1 AND c.escalated_to_supervisors) OR (
        c.review_round > 1
        AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.case_id = c.id AND d.round = c.review_round - 1
                        AND d.decided_by = %(by)s AND d.decision <> 'reanalyze')
        AND NOT EXISTS (SELECT 1 FROM appeals a WHERE a.case_id = c.id AND a.round = c.review_round - 1
                        AND a.filed_by = %(by)s))
    ELSE false END END)"""

UNCLAIMED = "(c.claimed_by IS NULL OR c.claim_expires_at <= now())"
CLAIMABLE = f"({UNCLAIMED} OR c.claimed_by = %(by)s)"  # claiming again renews the lease

CLAIM = f"""
    WITH claimed AS (
        UPDATE cases c SET claimed_by = %(by)s, claim_expires_at = now() + %(lease)s, version = c.version + 1
        WHERE c.id = %(case_id)s AND c.status = 'awaiting_review' AND {CLAIMABLE} AND {MAY_DECIDE}
        RETURNING c.id, c.claimed_by, c.claim_expires_at
    ), audited AS (
        INSERT INTO audit_events (case_id, actor, event, data)
        SELECT id, %(by)s, 'case_claimed', jsonb_build_object('expires_at', claim_expires_at) FROM claimed
    )
    SELECT claimed_by, claim_expires_at FROM claimed"""

# The most urgent case the caller may decide and nobody holds, claimed for them; a reviewer works one
# case at a time, so what they held before is released ("next" moves on). SKIP LOCKED: two reviewers
# asking at once get two different cases.
NEXT = f"""
    WITH released AS (
        UPDATE cases SET claimed_by = NULL, claim_expires_at = NULL, version = version + 1
        WHERE claimed_by = %(by)s AND status = 'awaiting_review'
        RETURNING id
    ), released_recorded AS (
        INSERT INTO audit_events (case_id, actor, event, data)
        SELECT id, %(by)s, 'claim_released', '{{"via": "next"}}'::jsonb FROM released
    ), candidate AS (
        SELECT c.id FROM cases c
        WHERE c.status = 'awaiting_review' AND {UNCLAIMED} AND {MAY_DECIDE}
        ORDER BY c.priority DESC, c.seq
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE cases c SET claimed_by = %(by)s, claim_expires_at = now() + %(lease)s, version = c.version + 1
        FROM candidate WHERE c.id = candidate.id
        RETURNING c.id, c.claim_expires_at
    ), audited AS (
        INSERT INTO audit_events (case_id, actor, event, data)
        SELECT id, %(by)s, 'case_claimed', jsonb_build_object('expires_at', claim_expires_at, 'via', 'next')
        FROM claimed
    )
    SELECT id FROM claimed"""

RELEASE = """
    WITH released AS (
        UPDATE cases SET claimed_by = NULL, claim_expires_at = NULL, version = version + 1
        WHERE id = %(case_id)s AND claimed_by = %(by)s
        RETURNING id
    ), audited AS (
        INSERT INTO audit_events (case_id, actor, event) SELECT id, %(by)s, 'claim_released' FROM released
    )
    SELECT id FROM released"""


def claim_params(*, case_id: Any = None, by: str, role: str, lease_seconds: float) -> dict[str, Any]:
    return {"case_id": case_id, "by": by, "role": role, "lease": timedelta(seconds=lease_seconds)}


def write_review_targets(conn: Any, targets: dict[str, timedelta]) -> None:
    """Make `review_targets` say what the REVIEW_TARGETS setting says (severities it names)."""
    for severity, target in targets.items():
        conn.execute("INSERT INTO review_targets (severity, priority, target) VALUES (%s, %s, %s)"
                     " ON CONFLICT (severity) DO UPDATE SET target = excluded.target",
                     (severity, SEVERITY_PRIORITY[severity], target))
