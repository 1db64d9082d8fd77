"""`GET /v1/cases/{case_id}/statement`: a case's statements of reasons, latest round first.

A case has one statement per round whose decision restricted something (a removal, a suspension);
one that was appealed and reversed says so in `reversed_at` and `reversal`. Staff read every
case's; an upstream key reads its own tenant's only (another tenant's case is "no case", as for
`GET /v1/cases/{case_id}`).
"""

import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel

from shared.errors import NotFound
from services.api.auth import Principal
from services.api.reads import may_see  # the one rule of who sees which case

_STATEMENTS = """
    SELECT c.tenant,
           (SELECT coalesce(json_agg(s ORDER BY s.round DESC), '[]') FROM (
               SELECT id, round, decision, issued_at, reversed_at, reversal, body
               FROM statements WHERE case_id = c.id) s
           ) AS statements
    FROM cases c WHERE c.id = %(case_id)s"""


class StatementOut(BaseModel):
    id: uuid.UUID
    round: int
    decision: str
    issued_at: datetime
    reversed_at: datetime | None
    reversal: dict[str, Any] | None  # {"appeal_round", "reversed_actions", "reversed_at"}
    body: dict[str, Any]  # the DSA Transparency Database's submission format


class CaseStatements(BaseModel):
    case_id: uuid.UUID
    statements: list[StatementOut]  # latest round first: the first is the one in force, unless reversed


async def of_case(conn: AsyncConnection, *, case_id: uuid.UUID, by: Principal) -> dict:
    row = await (await conn.execute(_STATEMENTS, {"case_id": case_id})).fetchone()
    if row is None or not may_see(by, row["tenant"]):
        raise NotFound(f"no case {case_id}")
    if not row["statements"]:
        raise NotFound(f"case {case_id} has no statement of reasons: no decision of it that restricted something "
                       "(a removal or a suspension) has executed; warn and dismiss restrict nothing")
    return {"case_id": case_id, "statements": row["statements"]}
