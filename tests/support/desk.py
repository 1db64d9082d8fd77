"""Cases entering review the way the worker moves them: through the one writer, so they get their
priority and deadline from `review_targets`."""

import uuid

from shared import transitions
from shared.db import transaction
from shared.domain import Status
from shared.models import Case
from services.worker.review import review_payload


def case_in_review(sessions, *, severity: str = "medium", text: str = "some words") -> str:
    case_id = uuid.uuid4()
    content = {"text": text, "author_id": "u-1"}
    analysis = {"category": "abuse", "severity": severity, "needs_review": True, "triggers": [], "reasons": []}
    with transaction(sessions) as session:
        session.add(Case(id=case_id, external_id=f"desk-{case_id.hex[:8]}", content=content, meta={},
                         status=Status.ANALYZING, analysis=analysis, created_by="upstream"))
        session.flush()
        payload = review_payload(case_id=str(case_id), round=1, attempt=0, content=content, analysis=analysis,
                                 reanalyze_limit=2)
        moved = transitions.move(session, case_id=case_id, to=Status.AWAITING_REVIEW, actor="system:worker",
                                 event="awaiting_review", set={"review": payload})
        assert moved is not None
    return str(case_id)
