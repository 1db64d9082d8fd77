"""/v1/qa: quality review of sampled closed cases, blind (role qa), and the error rates it gives."""

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from shared import transparency
from services.api import quality
from services.api.deps import Overseer, PoolDep, QaReviewer, SettingsDep
from services.api.quality import QaDecided, QaDecision, QaItem
from services.api.routes.cases import ERRORS
from services.api.strict import StrictRoute

router = APIRouter(prefix="/v1/qa", tags=["quality"], responses=ERRORS, route_class=StrictRoute)


@router.post("/next", response_model=QaItem, responses={204: {"description": "no sample waits for review"}})
async def next_sample(pool: PoolDep, user: QaReviewer, settings: SettingsDep):
    """Claim the oldest sample nobody holds: its content and context, without the analyser's verdict
    or the first decision (what the reviewer held before is let go)."""
    async with pool.connection() as conn:
        item = await quality.next_item(conn, by=user, lease_seconds=settings.qa_claim_seconds)
    return item if item is not None else Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{sample_id}/decision", response_model=QaDecided)
async def decide_sample(sample_id: uuid.UUID, data: QaDecision, pool: PoolDep, user: QaReviewer):
    """The reviewer's decision of the sample they hold. A case that closed on its own and is found
    violating reopens as a new review round at high priority (202 semantics: a worker prepares it)."""
    async with pool.connection() as conn:
        return await quality.decide(conn, sample_id=sample_id, data=data, by=user)


@router.get("/accuracy", response_model=dict[str, Any])
async def accuracy(
    pool: PoolDep,
    user: Overseer,
    start: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD (UTC)")],
    end: Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (UTC), included")],
):
    """Miss rate of the automatic closures, false-alarm rate of the review routing, and agreement
    (Cohen's kappa) of first and QA decisions, each with its 95% interval, overall and per tenant,
    category, model version and week of closing (definitions: shared/accuracy.py)."""
    period = transparency.Period(start, end)
    async with pool.connection() as conn:
        return await quality.rates(conn, **period.params)
