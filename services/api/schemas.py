"""Request and response bodies. Requests refuse unknown fields and say which limit was broken."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.domain import Decision, Status


def _no_nul(value: str) -> str:
    # Postgres cannot store NUL in text or JSONB; refuse it here instead of failing there.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _json_without_nul(value: Any) -> Any:
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _json_without_nul(item)
    elif isinstance(value, list):
        for item in value:
            _json_without_nul(item)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Content(Strict):
    text: Annotated[Text, Field(min_length=1, max_length=100_000)]
    author_id: Identifier


class CaseCreate(Strict):
    external_id: Identifier
    content: Content
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 50:
            raise ValueError("at most 50 keys")
        return _json_without_nul(value)


class ResumeRequest(Strict):
    decision: Decision
    note: Annotated[Text, Field(max_length=2000)] | None = None


class RollbackRequest(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class Accepted(BaseModel):
    case_id: uuid.UUID
    status: Status


class DecisionOut(BaseModel):
    round: int
    attempt: int
    decision: str
    note: str | None
    decided_by: str
    created_at: datetime


class ActionOut(BaseModel):
    id: uuid.UUID
    round: int
    kind: str
    target_id: str
    status: str
    reverses_id: uuid.UUID | None
    attempts: int
    last_error: str | None
    created_at: datetime
    confirmed_at: datetime | None


class AppealOut(BaseModel):
    round: int
    reason: str
    filed_by: str
    created_at: datetime


class CaseSummary(BaseModel):
    case_id: uuid.UUID
    external_id: str
    status: Status
    review_round: int
    category: str | None
    severity: str | None
    created_at: datetime
    updated_at: datetime


class CaseOut(BaseModel):
    case_id: uuid.UUID
    external_id: str
    status: Status
    review_round: int
    content: dict[str, Any]
    metadata: dict[str, Any]
    analysis: dict[str, Any] | None
    review: dict[str, Any] | None
    error: dict[str, Any] | None
    decisions: list[DecisionOut]
    actions: list[ActionOut]
    appeals: list[AppealOut]
    created_at: datetime
    updated_at: datetime


class CaseList(BaseModel):
    items: list[CaseSummary]
    next: str | None


class EventOut(BaseModel):
    at: datetime
    actor: str
    event: str
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]


class ErrorOut(BaseModel):
    error: str
    message: str
