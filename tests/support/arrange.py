"""Arranging commands the way the api records them (state change + outbox row in one
transaction), for tests that drive the worker's runner without the HTTP layer."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import enqueue, transaction
from shared.domain import CommandKind, Status
from shared.models import Appeal, Case, DecisionRecord


def post_case(sessions: sessionmaker[Session], *, text: str, author_id: str = "u-1", external_id: str | None = None):
    with transaction(sessions) as session:
        case = Case(
            external_id=external_id or f"post-{uuid.uuid4().hex[:8]}",
            content={"text": text, "author_id": author_id},
            meta={},
            status=Status.RECEIVED,
            created_by="upstream",
        )
        session.add(case)
        session.flush()
        message = enqueue(session, case_id=case.id, kind=CommandKind.START)
    return case.id, message.id


def decide(sessions: sessionmaker[Session], case_id: uuid.UUID, decision: str, *, by: str, note: str | None = None):
    with transaction(sessions) as session:
        case = session.get(Case, case_id, with_for_update=True)
        assert case.status == Status.AWAITING_REVIEW, case.status
        session.add(DecisionRecord(case_id=case_id, round=case.review_round, attempt=case.review_attempt,
                                   decision=decision, note=note, decided_by=by))
        case.status = Status.ANALYZING if decision == "reanalyze" else Status.EXECUTING
        case.review = None
        return enqueue(session, case_id=case_id, kind=CommandKind.RESUME).id


def appeal(sessions: sessionmaker[Session], case_id: uuid.UUID, *, by: str, reason: str = "appeal"):
    with transaction(sessions) as session:
        case = session.get(Case, case_id, with_for_update=True)
        assert case.status == Status.CLOSED, case.status
        session.add(Appeal(case_id=case_id, round=case.review_round, reason=reason, filed_by=by))
        case.status = Status.ROLLING_BACK
        return enqueue(session, case_id=case_id, kind=CommandKind.ROLLBACK).id


def case_row(sessions: sessionmaker[Session], case_id: uuid.UUID) -> Case:
    with sessions() as session:
        return session.get(Case, case_id)


def events(sessions: sessionmaker[Session], case_id: uuid.UUID) -> list[str]:
    from shared.models import AuditEvent

    with sessions() as session:
        return list(session.scalars(select(AuditEvent.event).filter_by(case_id=case_id).order_by(AuditEvent.id)))
