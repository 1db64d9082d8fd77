"""The service layer: each command checks and changes the case's state, records who did it and
writes its outbox row, all in one transaction that it commits itself."""

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import audit
from shared.db import enqueue
from shared.domain import CommandKind, Decision, Role, Status
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.models import Action, Appeal, AuditEvent, Case, DecisionRecord
from services.api.deps import Principal
from services.api.schemas import CaseCreate, ResumeRequest, RollbackRequest


def get_or_raise(session: Session, *, case_id: uuid.UUID) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def create_case(session: Session, *, data: CaseCreate, by: Principal, max_text_chars: int) -> tuple[uuid.UUID, bool]:
    """Returns the case id and whether the case is new; the same external id again returns the first."""
    if len(data.content.text) > max_text_chars:
        raise Invalid(f"content.text has {len(data.content.text)} characters; at most {max_text_chars} are accepted")
    case_id = session.scalar(
        insert(Case)
        .values(id=uuid.uuid4(), external_id=data.external_id, content=data.content.model_dump(),
                meta=data.metadata, status=Status.RECEIVED, review_round=1, review_attempt=0, version=1,
                created_by=by.name)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(Case.id)
    )
    if case_id is None:
        session.rollback()
        return session.scalar(select(Case.id).filter_by(external_id=data.external_id)), False
    audit.record(session, case_id=case_id, actor=by.name, event="case_received", to_status=Status.RECEIVED,
                 data={"external_id": data.external_id})
    enqueue(session, case_id=case_id, kind=CommandKind.START)
    session.commit()
    return case_id, True


def resume_case(session: Session, *, case_id: uuid.UUID, data: ResumeRequest, by: Principal) -> Case:
    case = get_or_raise(session, case_id=case_id)
    if case.status != Status.AWAITING_REVIEW:
        raise Conflict(f"case is {case.status}, not awaiting_review")
    _check_reviewer(session, case=case, by=by)
    allowed = (case.review or {}).get("allowed_decisions", [])
    if data.decision not in allowed:
        raise Invalid(f"decision {data.decision} is not allowed now; allowed: {', '.join(allowed)}")
    if data.decision == Decision.REANALYZE and not (data.note or "").strip():
        raise Invalid("reanalyze needs a note: it is the feedback for the analyser")
    new_status = Status.ANALYZING if data.decision == Decision.REANALYZE else Status.EXECUTING
    _transition(session, case=case, to=new_status, expect=Status.AWAITING_REVIEW, same_review=True)
    session.add(DecisionRecord(case_id=case.id, round=case.review_round, attempt=case.review_attempt,
                               decision=data.decision, note=data.note, decided_by=by.name))
    audit.record(session, case_id=case.id, actor=by.name, event="decision_made", from_status=Status.AWAITING_REVIEW,
                 to_status=new_status, data={"decision": data.decision, "note": data.note,
                                             "round": case.review_round, "attempt": case.review_attempt})
    return _commit_with(session, case=case, kind=CommandKind.RESUME)


def rollback_case(session: Session, *, case_id: uuid.UUID, data: RollbackRequest, by: Principal) -> Case:
    case = get_or_raise(session, case_id=case_id)
    if case.status != Status.CLOSED:
        raise Conflict(f"only a closed case can be appealed; this one is {case.status}")
    _transition(session, case=case, to=Status.ROLLING_BACK, expect=Status.CLOSED, same_review=True)
    session.add(Appeal(case_id=case.id, round=case.review_round, reason=data.reason, filed_by=by.name))
    audit.record(session, case_id=case.id, actor=by.name, event="appeal_filed", from_status=Status.CLOSED,
                 to_status=Status.ROLLING_BACK, data={"reason": data.reason, "round": case.review_round})
    return _commit_with(session, case=case, kind=CommandKind.ROLLBACK)


def retry_case(session: Session, *, case_id: uuid.UUID | str, actor: str) -> Case:
    """Put a failed case back on its way from its last checkpoint (also `vigil cases retry`)."""
    case = get_or_raise(session, case_id=_as_uuid(case_id))
    if case.status != Status.FAILED:
        raise Conflict(f"only a failed case can be retried; this one is {case.status}")
    back_to = _status_before_failure(case)
    error = case.error
    _transition(session, case=case, to=back_to, expect=Status.FAILED, same_review=False, error=None)
    audit.record(session, case_id=case.id, actor=actor, event="retry_requested", from_status=Status.FAILED,
                 to_status=back_to, data={"error": error})
    return _commit_with(session, case=case, kind=CommandKind.RETRY)


def _as_uuid(case_id: uuid.UUID | str) -> uuid.UUID:
    # The command line passes what the operator typed: a typo is an unknown case, not a crash.
    try:
        return case_id if isinstance(case_id, uuid.UUID) else uuid.UUID(str(case_id))
    except ValueError:
        raise NotFound(f"no case {case_id!r}: a case id is a UUID") from None


def _status_before_failure(case: Case) -> Status:
    """The worker records the status it failed in; an error without a usable one starts over."""
    recorded = (case.error or {}).get("status")
    if isinstance(recorded, str) and recorded in set(Status) - {Status.FAILED}:
        return Status(recorded)
    return Status.RECEIVED


def _check_reviewer(session: Session, *, case: Case, by: Principal) -> None:
    if case.review_round == 1:
        if by.role != Role.MODERATOR:
            raise Forbidden("a moderator decides the first review round")
        return
    if by.role != Role.SUPERVISOR:
        raise Forbidden(f"a supervisor decides review round {case.review_round} (an appeal)")
    appealed = session.scalar(
        select(DecisionRecord.decided_by)
        .where(DecisionRecord.case_id == case.id, DecisionRecord.round == case.review_round - 1,
               DecisionRecord.decision != Decision.REANALYZE)
        .order_by(DecisionRecord.attempt.desc())
        .limit(1)
    )
    if appealed == by.name:
        raise Forbidden("the decision under appeal was yours; another supervisor must decide this round")


def _transition(session: Session, *, case: Case, to: Status, expect: Status, same_review: bool, **also) -> None:
    """A conditional update: of N concurrent commands on a case, exactly one gets through."""
    condition = [Case.id == case.id, Case.status == expect]
    changes = {"status": to, "version": Case.version + 1, **also}
    if same_review:
        condition += [Case.review_round == case.review_round, Case.review_attempt == case.review_attempt]
        changes["review"] = None  # the round is decided: its payload no longer describes the case
    changed = session.execute(update(Case).where(*condition).values(**changes).returning(Case.id)).first()
    if changed is None:
        session.rollback()
        raise Conflict(f"case {case.id} changed meanwhile; it is no longer {expect}")


def _commit_with(session: Session, *, case: Case, kind: CommandKind) -> Case:
    enqueue(session, case_id=case.id, kind=kind)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"this review round of case {case.id} is already decided") from None
    session.refresh(case)
    return case


def case_details(session: Session, *, case: Case) -> dict:
    def rows(model, order):
        return session.scalars(select(model).where(model.case_id == case.id).order_by(order)).all()

    return {
        "case_id": case.id, "external_id": case.external_id, "status": case.status,
        "review_round": case.review_round, "content": case.content, "metadata": case.meta,
        "analysis": case.analysis, "review": case.review if case.status == Status.AWAITING_REVIEW else None,
        "error": case.error, "created_at": case.created_at, "updated_at": case.updated_at,
        "decisions": rows(DecisionRecord, DecisionRecord.created_at),
        "actions": rows(Action, Action.seq),
        "appeals": rows(Appeal, Appeal.created_at),
    }


def list_cases(session: Session, *, status: Status | None, limit: int, cursor: int | None) -> tuple[list[Case], str | None]:
    query = select(Case).order_by(Case.seq).limit(limit + 1)
    if status is not None:
        query = query.where(Case.status == status)
    if cursor is not None:
        query = query.where(Case.seq > cursor)
    cases = session.scalars(query).all()
    more = len(cases) > limit
    return cases[:limit], str(cases[limit - 1].seq) if more else None


def events(session: Session, *, case_id: uuid.UUID) -> list[AuditEvent]:
    get_or_raise(session, case_id=case_id)
    return session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)).all()
