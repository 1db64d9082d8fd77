import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shared.db import transaction
from shared.domain import Status
from shared.models import Appeal, AuditEvent, Case, DecisionRecord, OutboxMessage
from services.api.app import create_app
from services.worker.review import review_payload


@pytest.fixture(scope="module")
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app, keys):
    """A client of the app over the real database; `client.as_("mod-ana")` gives that person's headers."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.as_ = lambda name: {"X-API-Key": keys[name]}
        yield test_client


@pytest.fixture
def rows(sessions):
    """How many rows each command table holds: a rejected request must leave these unchanged."""

    def count() -> dict[str, int]:
        with sessions() as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    for model in (Case, OutboxMessage, AuditEvent, DecisionRecord, Appeal)}

    return count


@pytest.fixture
def case_in(sessions):
    """Arranges a case in a given state, as the worker would have left it (no worker runs here)."""

    def arrange(status: Status, *, round: int = 1, attempt: int = 0, decided_by: str = "mod-ana", error: dict | None = None):
        case_id = uuid.uuid4()
        content = {"text": "some words", "author_id": "u-1"}
        analysis = {"category": "abuse", "severity": "medium", "needs_review": True, "triggers": [], "reasons": []}
        review = review_payload(case_id=str(case_id), round=round, attempt=attempt, content=content,
                                analysis=analysis, reanalyze_limit=2)
        with transaction(sessions) as session:
            session.add(Case(id=case_id, external_id=f"arranged-{case_id.hex[:8]}", content=content, meta={},
                             status=status, review_round=round, review_attempt=attempt, analysis=analysis,
                             review=review if status == Status.AWAITING_REVIEW else None, error=error,
                             created_by="upstream"))
            session.flush()
            for earlier in range(1, round):
                session.add(DecisionRecord(case_id=case_id, round=earlier, attempt=0, decision="remove",
                                           decided_by=decided_by))
                session.add(Appeal(case_id=case_id, round=earlier, reason="appeal", filed_by="sup-cy"))
        return str(case_id)

    return arrange
