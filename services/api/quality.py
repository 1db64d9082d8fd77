"""The QA desk: the next sample for a QA reviewer, shown blind, and their decision of it; and the
error rates the decisions give (shared/quality.py, shared/accuracy.py)."""

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field, model_validator

from shared import accuracy, quality, transitions
from shared.domain import CommandKind, Decision, Status
from shared.errors import Conflict, NotFound
from services.api.auth import Principal
from services.api.schemas import Strict, Text

Violation = Literal["abuse", "spam", "credential_leak", "personal_data", "other"]


class QaItem(BaseModel):
    """A sampled case as the QA reviewer sees it: the content and its context, no verdict."""

    sample_id: uuid.UUID
    tenant: str
    content: dict[str, Any]
    metadata: dict[str, Any]
    received_at: datetime
    claim_expires_at: datetime


class QaDecision(Strict):
    decision: Literal["dismiss", "warn", "remove", "remove_and_ban"]
    violation: Violation | None = Field(default=None, description="what it violates; required unless dismiss")
    note: Annotated[Text, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _violation_named(self) -> "QaDecision":
        if (self.decision == Decision.DISMISS) != (self.violation is None):
            raise ValueError("name the violation (abuse, spam, ...) for a decision other than dismiss, "
                             "and none for dismiss")
        return self


class QaDecided(BaseModel):
    sample_id: uuid.UUID
    reopened: bool = Field(description="the case had closed on its own and now goes to a person as a new review round")


async def next_item(conn: AsyncConnection, *, by: Principal, lease_seconds: float) -> QaItem | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(quality.NEXT, {"by": by.name, "lease": timedelta(seconds=lease_seconds)})
        row = await cursor.fetchone()
    if row is None:
        return None
    content = dict(row["content"])
    shown = (row["analysis"] or {}).get("redacted_text")
    if shown:  # what a moderator reads too: secrets and personal data masked
        content.update(text=shown, redacted=True)
    return QaItem(sample_id=row["id"], tenant=row["tenant"], content=content, metadata=row["metadata"] or {},
                  received_at=row["created_at"], claim_expires_at=row["claim_expires_at"])


async def decide(conn: AsyncConnection, *, sample_id: uuid.UUID, data: QaDecision, by: Principal) -> QaDecided:
    """The reviewer's decision of the sample they hold; an automatic closure found violating reopens
    as the next review round, in the same transaction."""
    async with conn.transaction():
        cursor = await conn.execute(quality.DECIDE, {"id": sample_id, "by": by.name, "decision": data.decision,
                                                     "violation": data.violation, "note": data.note})
        row = await cursor.fetchone()
        if row is None:
            await _refuse(conn, sample_id=sample_id, by=by)
        case_id, round, reopened = row["case_id"], row["round"], row["reopened"]
        if reopened:
            moved = await transitions.move_async(
                conn, case_id=case_id, to=Status.RECEIVED, expect=[Status.AUTO_CLOSED], actor=by.name,
                event="quality_review_reopened", command=CommandKind.START,
                set={"review_round": round + 1, "review_attempt": 0, "analysis": None, "review": None},
                data={"sample": str(sample_id), "decision": data.decision, "violation": data.violation},
                dedupe_key=f"{case_id}:qa_reopened:r{round}")
            if moved is None:  # the transaction's end undoes the decision too
                raise Conflict(f"the case of sample {sample_id} is no longer closed on its own")
    return QaDecided(sample_id=sample_id, reopened=reopened)


async def _refuse(conn: AsyncConnection, *, sample_id: uuid.UUID, by: Principal) -> None:
    cursor = await conn.execute("SELECT reviewed_at, claimed_by, claim_expires_at > now() AS held FROM qa_samples"
                                " WHERE id = %s",
                                (sample_id,))
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no sample {sample_id}")
    reviewed_at, claimed_by, held = row.values()
    if reviewed_at is not None:
        raise Conflict(f"sample {sample_id} was reviewed already")
    if claimed_by != by.name or not held:
        raise Conflict(f"sample {sample_id} is not yours to decide now: take it with POST /v1/qa/next")
    raise Conflict(f"sample {sample_id} changed meanwhile")


async def rates(conn: AsyncConnection, *, start: datetime, end: datetime) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(accuracy.REVIEWED, {"start": start, "end": end})
        return accuracy.report(await cursor.fetchall())
