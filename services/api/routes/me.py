"""/v1/me: who a key belongs to, so the moderator page shows each role what it may do."""

from fastapi import APIRouter

from services.api.deps import CurrentUser
from services.api.schemas import ErrorOut, Me
from services.api.strict import StrictRoute

router = APIRouter(prefix="/v1/me", tags=["me"], responses={code: {"model": ErrorOut} for code in (400, 401, 422, 429, 503)},
                   route_class=StrictRoute)


@router.get("", response_model=Me)
async def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role)
