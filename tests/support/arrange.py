"""Arranging commands the way the api records them (through the one writer: the state change, its
audit event and its outbox row in one transaction), for tests that drive the worker's runner
without the HTTP layer. Each command returns its outbox row's id: the message id the relay uses."""

import uuid

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from shared import transitions
from shared.db import enqueue, transaction
from shared.domain import CommandKind, Status
from shared.models import AuditEvent, Case, OutboxMessage
from services.scheduler.rules import SCHEDULER


def _latest_message(session: Session, case_id: uuid.UUID) -> uuid.UUID:
    return session.scalar(text("SELECT id FROM outbox WHERE case_id = :c ORDER BY seq DESC LIMIT 1"), {"c": case_id})


def _move(session: Session, **what) -> uuid.UUID:
    moved = transitions.move(session, **what)
    assert moved is not None, f"the case could not move to {what['to']}"
    return _latest_message(session, what["case_id"])


def post_case(sessions: sessionmaker[Session], *, text: str, author_id: str = "u-1", external_id: str | None = None,
              tenant: str = "upstream"):
    """A new case in `received` with its start command (and, unlike the api, no audit event: the
    audit log's own tests count on an empty log)."""
    with transaction(sessions) as session:
        case = Case(tenant=tenant, external_id=external_id or f"post-{uuid.uuid4().hex[:8]}",
                    content={"text": text, "author_id": author_id}, meta={}, status=Status.RECEIVED, created_by=tenant)
        session.add(case)
        session.flush()
        return case.id, enqueue(session, case_id=case.id, kind=CommandKind.START).id


def started(runner, sessions: sessionmaker[Session], text: str, *, author_id: str = "u-1",
            tenant: str = "upstream") -> uuid.UUID:
    """A new case, started by the worker's runner in this process (where its graph pauses or ends)."""
    case_id, message_id = post_case(sessions, text=text, author_id=author_id, tenant=tenant)
    runner.handle(case_id=str(case_id), message_id=str(message_id), kind=CommandKind.START)
    return case_id


def decide(sessions: sessionmaker[Session], case_id: uuid.UUID, decision: str, *, by: str, note: str | None = None):
    with transaction(sessions) as session:
        case = session.get(Case, case_id)
        assert case.status == Status.AWAITING_REVIEW, case.status
        round, attempt = case.review_round, case.review_attempt
        return _move(session, case_id=case_id, to=Status.ANALYZING if decision == "reanalyze" else Status.EXECUTING,
                     actor=by, event="decision_made", expect=[Status.AWAITING_REVIEW], round=round, attempt=attempt,
                     set={"review": None}, command=CommandKind.RESUME,
                     record=transitions.Record("decisions", {"round": round, "attempt": attempt, "decision": decision,
                                                             "note": note, "decided_by": by}),
                     data={"decision": decision, "note": note, "round": round, "attempt": attempt})


def appeal(sessions: sessionmaker[Session], case_id: uuid.UUID, *, by: str, reason: str = "appeal"):
    with transaction(sessions) as session:
        case = session.get(Case, case_id)
        assert case.status == Status.CLOSED, case.status
        round = case.review_round
        return _move(session, case_id=case_id, to=Status.ROLLING_BACK, actor=by, event="appeal_filed",
                     expect=[Status.CLOSED], round=round, command=CommandKind.ROLLBACK,
                     record=transitions.Record("appeals", {"round": round, "reason": reason, "filed_by": by}),
                     data={"reason": reason, "round": round})


def retry(sessions: sessionmaker[Session], case_id: uuid.UUID, *, by: str = "admin"):
    """What an admin's retry records: the case back in the status it failed in."""
    with transaction(sessions) as session:
        case = session.get(Case, case_id)
        assert case.status == Status.FAILED, case.status
        return _move(session, case_id=case_id, to=Status(case.error["status"]), actor=by, event="retry_requested",
                     expect=[Status.FAILED], set={"error": None}, command=CommandKind.RETRY,
                     data={"error": case.error})


def nudge(sessions: sessionmaker[Session], case_id: uuid.UUID):
    """A retry for a case in a working status with no message on its way, as the scheduler's
    stuck-case rule sends one (here through the one writer, which lets a working status move to itself)."""
    with transaction(sessions) as session:
        status = Status(session.get(Case, case_id).status)
        return _move(session, case_id=case_id, to=status, actor=SCHEDULER, event="case_nudged", expect=[status],
                     command=CommandKind.RETRY)


def case_row(sessions: sessionmaker[Session], case_id: uuid.UUID) -> Case:
    with sessions() as session:
        return session.get(Case, case_id)


def events(sessions: sessionmaker[Session], case_id: uuid.UUID) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.event).filter_by(case_id=case_id).order_by(AuditEvent.id)))


def add_commands(sessions, count: int, *, notify: bool = True) -> list[uuid.UUID]:
    """Cases in `received`, each with its start command in the outbox (NOTIFY or not)."""
    ids = []
    with transaction(sessions) as session:
        for _ in range(count):
            case = Case(external_id=uuid.uuid4().hex, content={"text": "t", "author_id": "u"}, meta={},
                        status=Status.RECEIVED, created_by="test")
            session.add(case)
            session.flush()
            if notify:
                ids.append(enqueue(session, case_id=case.id, kind=CommandKind.START).id)
            else:
                message = OutboxMessage(id=uuid.uuid4(), case_id=case.id, kind=CommandKind.START)
                session.add(message)
                ids.append(message.id)
    return ids
