"""/v1/cases: views that only translate HTTP to the service layer and back."""

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from shared.domain import Status
from shared.errors import Invalid
from services.api import service
from services.api.deps import Admin, CurrentUser, Reviewer, SessionDep, SettingsDep, Staff, Supervisor, Upstream
from services.api.schemas import (
    Accepted, CaseCreate, CaseList, CaseOut, CaseSummary, ErrorOut, EventOut, ResumeRequest, RollbackRequest,
)

ERRORS = {code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 503)}
router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=ERRORS)


def _summary(case) -> CaseSummary:
    analysis = case.analysis or {}
    return CaseSummary(case_id=case.id, external_id=case.external_id, status=case.status,
                       review_round=case.review_round, category=analysis.get("category"),
                       severity=analysis.get("severity"), created_at=case.created_at, updated_at=case.updated_at)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
             responses={200: {"model": Accepted, "description": "this external_id was posted before"}})
def create_case(data: CaseCreate, session: SessionDep, user: Upstream, settings: SettingsDep, response: Response):
    case_id, created = service.create_case(session, data=data, by=user, max_text_chars=settings.max_text_chars)
    if created:
        return Accepted(case_id=case_id, status=Status.RECEIVED)
    response.status_code = status.HTTP_200_OK
    return Accepted(case_id=case_id, status=service.get_or_raise(session, case_id=case_id).status)


@router.get("", response_model=CaseList)
def list_cases(
    session: SessionDep,
    user: Staff,
    settings: SettingsDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
):
    if limit > settings.max_page_size:
        raise Invalid(f"limit is at most {settings.max_page_size}")
    if cursor is not None and not re.fullmatch(r"[0-9]{1,18}", cursor):  # ASCII digits that fit a bigint
        raise Invalid("cursor must be the `next` value of a previous page")
    cases, next_cursor = service.list_cases(session, status=status_, limit=limit,
                                            cursor=int(cursor) if cursor else None)
    return CaseList(items=[_summary(case) for case in cases], next=next_cursor)


@router.get("/{case_id}", response_model=CaseOut)
def get_case(case_id: uuid.UUID, session: SessionDep, user: CurrentUser):
    case = service.get_or_raise(session, case_id=case_id)
    return service.case_details(session, case=case)


@router.get("/{case_id}/events", response_model=list[EventOut])
def case_events(case_id: uuid.UUID, session: SessionDep, user: CurrentUser):
    return service.events(session, case_id=case_id)


@router.post("/{case_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
def resume_case(case_id: uuid.UUID, data: ResumeRequest, session: SessionDep, user: Reviewer):
    case = service.resume_case(session, case_id=case_id, data=data, by=user)
    return Accepted(case_id=case.id, status=case.status)


@router.post("/{case_id}/rollback", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
def rollback_case(case_id: uuid.UUID, data: RollbackRequest, session: SessionDep, user: Supervisor):
    case = service.rollback_case(session, case_id=case_id, data=data, by=user)
    return Accepted(case_id=case.id, status=case.status)


@router.post("/{case_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
def retry_case(case_id: uuid.UUID, session: SessionDep, user: Admin):
    case = service.retry_case(session, case_id=case_id, actor=user.name)
    return Accepted(case_id=case.id, status=case.status)
