"""/v1/reports: figures an admin publishes (the DSA's transparency reports)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from shared import statements, transparency
from services.api.deps import Admin, PoolDep, SettingsDep
from services.api.routes.cases import ERRORS
from services.api.strict import StrictRoute

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=ERRORS, route_class=StrictRoute)


@router.get("/transparency", response_model=dict[str, Any])
async def transparency_report(
    pool: PoolDep,
    user: Admin,
    settings: SettingsDep,
    start: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD (UTC)")],
    end: Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (UTC), included")],
):
    """Cases received, decisions, actions by type and ground, automated detection, appeals and
    reversals, median times and the analyser's agreement with people, from the audit trail
    (definitions: shared/transparency.py and the README)."""
    period = transparency.Period(start, end)
    grounds = statements.parse_grounds(settings.statement_grounds)
    async with pool.connection() as conn:
        return await transparency.report_async(conn, period=period, grounds=grounds)
