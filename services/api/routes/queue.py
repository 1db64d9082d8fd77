"""/v1/queue: the review desk's "next case" for the caller."""

from fastapi import APIRouter, Response, status

from services.api import desk
from services.api.deps import PoolDep, Reviewer, SettingsDep
from services.api.schemas import CaseOut, ErrorOut
from services.api.strict import StrictRoute

router = APIRouter(prefix="/v1/queue", tags=["queue"], route_class=StrictRoute,
                   responses={code: {"model": ErrorOut} for code in (400, 401, 403, 429, 503)})


@router.post("/next", response_model=CaseOut, responses={204: {"description": "nothing left you may decide"}})
async def next_case(pool: PoolDep, user: Reviewer, settings: SettingsDep):
    """Claim the most urgent case awaiting review that the caller may decide and nobody holds."""
    async with pool.connection() as conn:
        case = await desk.next_case(conn, by=user, lease_seconds=settings.claim_seconds,
                                    max_appeals=settings.max_appeals_per_case)
    return case if case is not None else Response(status_code=status.HTTP_204_NO_CONTENT)
