"""The review desk's commands: claim a case, release it, take the most urgent one."""

import uuid

from psycopg import AsyncConnection

from shared import desk
from shared.errors import Conflict, Forbidden
from services.api.auth import Principal
from services.api.reads import case_details


async def claim(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal, lease_seconds: float,
                max_appeals: int) -> dict:
    params = desk.claim_params(case_id=case_id, by=by.name, role=str(by.role), lease_seconds=lease_seconds)
    claimed = await (await conn.execute(desk.CLAIM, params)).fetchone()
    if claimed is not None:
        return {"claimed_by": claimed["claimed_by"], "expires_at": claimed["claim_expires_at"]}
    # Say why: the case is gone, not in review, not the caller's to decide, or someone holds it.
    case = await case_details(conn, case_id=case_id, by=by, max_appeals=max_appeals)
    if case["status"] != "awaiting_review":
        raise Conflict(f"only a case awaiting review can be claimed; this one is {case['status']}")
    if case["claim"] is not None and case["claim"]["by"] != by.name:
        raise Conflict(f"{case['claim']['by']} holds this case until {case['claim']['expires_at']}")
    raise Forbidden("you may not decide this case, so you cannot claim it")


async def release(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal, max_appeals: int) -> None:
    if await (await conn.execute(desk.RELEASE, {"case_id": case_id, "by": by.name})).fetchone() is not None:
        return
    case = await case_details(conn, case_id=case_id, by=by, max_appeals=max_appeals)
    if case["claim"] is not None and case["claim"]["by"] != by.name:
        raise Conflict(f"the claim is {case['claim']['by']}'s, not yours to release")
    # Not claimed (or the claim lapsed): releasing is already done.


async def next_case(conn: AsyncConnection, *, by: Principal, lease_seconds: float, max_appeals: int) -> dict | None:
    params = desk.claim_params(by=by.name, role=str(by.role), lease_seconds=lease_seconds)
    claimed = await (await conn.execute(desk.NEXT, params)).fetchone()
    if claimed is None:
        return None
    return await case_details(conn, case_id=claimed["id"], by=by, max_appeals=max_appeals)
