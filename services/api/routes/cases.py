"""/v1/cases: views that only translate HTTP to the service layer and back."""

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from shared.domain import Role, Status
from shared.errors import Forbidden, Invalid
from services.api import desk, reads, service
from services.api import statements as statements_of
from services.api.deps import Admin, PoolDep, Reader, Reviewer, SettingsDep, Supervisor, Upstream
from services.api.schemas import (
    Accepted, CaseCreate, CaseList, CaseOut, ClaimOut, ComplaintRequest, ErrorOut, EventOut, FeedPage, Identifier, ResumeRequest, RollbackRequest,
)
from services.api.strict import StrictRoute

ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=ERRORS, route_class=StrictRoute)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
             responses={200: {"model": Accepted, "description": "this external_id was posted before, same content"}})
async def create_case(data: CaseCreate, pool: PoolDep, user: Upstream, settings: SettingsDep, request: Request,
                      response: Response):
    case_id, case_status, created = await service.create_case(
        request.app.state.intake, pool, data=data, by=user, max_text_chars=settings.max_text_chars)
    if not created:
        response.status_code = status.HTTP_200_OK
    return {"case_id": case_id, "status": case_status}


@router.get("", response_model=CaseList)
async def list_cases(
    pool: PoolDep,
    user: Reader,
    settings: SettingsDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    actions_refused: Annotated[bool | None, Query(description="only cases with a refused platform action")] = None,
    tenant: Annotated[Identifier | None, Query(description="only this upstream's cases (an upstream key: its own)")] = None,
    external_id: Annotated[Identifier | None, Query(description="the case the upstream posted under this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=30)] = None,
):
    """A page of cases. Staff see every tenant's; an upstream key sees its own tenant's only, and finds one of
    its cases by the id it posted it under (`?external_id=`)."""
    if limit > settings.max_page_size:
        raise Invalid(f"limit is at most {settings.max_page_size}")
    if cursor is not None and not re.fullmatch(r"([0-9]{1,9}-)?[0-9]{1,18}", cursor):  # ASCII digits, int-sized
        raise Invalid("cursor must be the `next` value of a previous page")
    if user.role == Role.UPSTREAM:
        if tenant not in (None, user.tenant):
            raise Forbidden(f"an upstream key lists its own tenant's cases only ({user.tenant})")
        tenant = user.tenant
    async with pool.connection() as conn:
        items, next_cursor = await reads.list_cases(conn, status=status_, actions_refused=actions_refused,
                                                    tenant=tenant, external_id=external_id, limit=limit, cursor=cursor)
    return {"items": items, "next": next_cursor}


@router.get("/{case_id}", response_model=CaseOut)
async def get_case(case_id: uuid.UUID, pool: PoolDep, user: Reader, settings: SettingsDep):
    async with pool.connection() as conn:
        return await reads.case_details(conn, case_id=case_id, by=user, max_appeals=settings.max_appeals_per_case)


@router.get("/{case_id}/events", response_model=list[EventOut])
async def case_events(case_id: uuid.UUID, pool: PoolDep, user: Reader):
    async with pool.connection() as conn:
        return await reads.events(conn, case_id=case_id, by=user)


@router.get("/{case_id}/feed", response_model=FeedPage)
async def case_feed(case_id: uuid.UUID, pool: PoolDep, user: Reader, settings: SettingsDep,
                    from_seq: Annotated[int, Query(ge=1, le=2**62, description="the first event's `seq`")] = 1,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """The case's events exactly as its subscribers receive them, in `seq` order from `from_seq` on:
    what a subscriber that missed some (a gap in `seq`) asks for. `next` is the `from_seq` of the next page."""
    if limit > settings.max_page_size:
        raise Invalid(f"limit is at most {settings.max_page_size}")
    async with pool.connection() as conn:
        items, next_seq = await reads.feed(conn, case_id=case_id, by=user, from_seq=from_seq, limit=limit)
    return {"items": items, "next": next_seq}


@router.get("/{case_id}/statement", response_model=statements_of.CaseStatements)
async def case_statement(case_id: uuid.UUID, pool: PoolDep, user: Reader):
    """The case's statements of reasons (EU DSA Art. 17), latest round first; 404 when none was issued."""
    async with pool.connection() as conn:
        return await statements_of.of_case(conn, case_id=case_id, by=user)


@router.post("/{case_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def resume_case(case_id: uuid.UUID, data: ResumeRequest, pool: PoolDep, user: Reviewer, request: Request):
    new_status = await service.resume_case(pool, request.app.state.decisions, case_id=case_id, data=data, by=user)
    return {"case_id": case_id, "status": new_status}


@router.post("/{case_id}/rollback", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def rollback_case(case_id: uuid.UUID, data: RollbackRequest, pool: PoolDep, user: Supervisor,
                        settings: SettingsDep, request: Request):
    async with pool.connection() as conn:
        new_status = await service.rollback_case(conn, case_id=case_id, data=data, by=user,
                                                 max_appeals=settings.max_appeals_per_case,
                                                 wakeups=request.app.state.wakeups)
    return {"case_id": case_id, "status": new_status}


@router.post("/{case_id}/complaints", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
             responses={200: {"model": Accepted, "description": "this complaint (its reference) was filed before"}})
async def file_complaint(case_id: uuid.UUID, data: ComplaintRequest, pool: PoolDep, user: Upstream,
                         settings: SettingsDep, request: Request, response: Response):
    """The platform forwards a complaint by the affected user or the notifier (DSA Art. 20), within the
    appeal window: the case is appealed with its source, reviewed again by someone who did not decide it,
    and the outcome comes back as a `complaint.decided` event naming the reference."""
    async with pool.connection() as conn:
        new_status, filed = await service.file_complaint(conn, case_id=case_id, data=data, by=user,
                                                         max_appeals=settings.max_appeals_per_case,
                                                         wakeups=request.app.state.wakeups)
    if not filed:
        response.status_code = status.HTTP_200_OK
    return {"case_id": case_id, "status": new_status}


@router.post("/{case_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def retry_case(case_id: uuid.UUID, pool: PoolDep, user: Admin):
    async with pool.connection() as conn:
        new_status = await service.retry_case(conn, case_id=case_id, actor=user.name)
    return {"case_id": case_id, "status": new_status}


@router.post("/{case_id}/claim", response_model=ClaimOut)
async def claim_case(case_id: uuid.UUID, pool: PoolDep, user: Reviewer, settings: SettingsDep):
    """Hold the case for `CLAIM_SECONDS`; claiming again renews the lease. 409 while someone else holds it."""
    async with pool.connection() as conn:
        return await desk.claim(conn, case_id=case_id, by=user, lease_seconds=settings.claim_seconds,
                                max_appeals=settings.max_appeals_per_case)


@router.delete("/{case_id}/claim", status_code=status.HTTP_204_NO_CONTENT)
async def release_claim(case_id: uuid.UUID, pool: PoolDep, user: Reviewer, settings: SettingsDep):
    async with pool.connection() as conn:
        await desk.release(conn, case_id=case_id, by=user, max_appeals=settings.max_appeals_per_case)
