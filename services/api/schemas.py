"""Request and response bodies. Requests refuse unknown fields and say which limit was broken."""

import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared import statements
from shared.domain import COMPLAINANTS, COMPLAINT_BASES, Decision, Status

MAX_METADATA_KEYS = 50
MAX_METADATA_DEPTH = 16


def _storable(value: str) -> str:
    # Postgres cannot store NUL or lone surrogates in text or JSONB; refuse them here, by name.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogate escapes such as \\ud800)") from None
    return value


def _storable_json(value: Any) -> Any:
    """Walks the document without recursion, so a deeply nested one is refused, never a crash."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"nests deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(item, str):
            _storable(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (JSON has no NaN or Infinity)")
        elif isinstance(item, dict):
            for key, child in item.items():
                _storable(key)
                pending.append((child, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return value


def _not_a_path_segment(value: str) -> str:
    # Ids end up in the platform's URLs: "." and ".." would be collapsed by an HTTP client.
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a usable id")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must say something: blank or whitespace only is not a reason")
    return value


Text = Annotated[str, AfterValidator(_storable)]
# No white space, no control characters (C0, DEL, C1), no dot segments.
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f\x7f-\x9f]+$"),
                       AfterValidator(_storable), AfterValidator(_not_a_path_segment)]


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
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
        if "posted_at" in value:  # the statement of reasons' content_date: as said, never replaced
            problem = statements.posted_at_problem(value["posted_at"], now=datetime.now(UTC))
            if problem:
                raise ValueError(problem)
        return _storable_json(value)


class ResumeRequest(Strict):
    decision: Decision
    note: Annotated[Text, Field(max_length=2000)] | None = None


class RollbackRequest(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]


class ComplaintRequest(Strict):
    """A complaint about the case's decision (DSA Art. 20), forwarded by the platform for the person."""

    complainant: Literal[COMPLAINANTS] = Field(description="who complains: the user the decision affected, or "
                                                           "the person who notified the content")
    basis: Literal[COMPLAINT_BASES] = Field(description="what they contest")
    text: Annotated[Text, Field(min_length=1, max_length=5000), AfterValidator(_not_blank)] = Field(
        description="their complaint as they wrote it; the reviewer reads it")
    reference: Identifier = Field(description="the platform's id of the complaint: the outcome event names it, and "
                                              "sending it again files nothing twice")


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
    source: str = Field(description="supervisor, or the complainant a platform forwarded: affected_user, notifier")
    basis: str | None
    reference: str | None
    created_at: datetime


class ClaimOut(BaseModel):
    claimed_by: str
    expires_at: datetime


class Claim(BaseModel):
    by: str
    expires_at: datetime


class CaseSummary(BaseModel):
    case_id: uuid.UUID
    tenant: str = Field(description="the upstream that posted it")
    external_id: str
    status: Status
    review_round: int
    actions_refused: bool
    priority: int = Field(description="higher is more urgent: from the severity, raised by escalation")
    due_at: datetime | None = Field(description="when review is due (awaiting_review only)")
    claim: Claim | None
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
    actions_refused: bool = Field(description="a platform action of this case was refused (see actions)")
    priority: int
    due_at: datetime | None
    claim: Claim | None
    may_decide: bool = Field(description="the caller may decide this case now")
    may_claim: bool
    may_appeal: bool
    may_retry: bool
    appealable_until: datetime | None = Field(
        description="a closed case may be appealed until then (APPEAL_WINDOW_DAYS after its decision executed)")
    final_at: datetime | None = Field(
        description="when the case became final: its appeal window closed (or it closed on its own); no appeal")
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


class FeedEvent(BaseModel):
    """One event as a subscriber receives it (the webhook body)."""

    id: uuid.UUID
    seq: int = Field(description="1, 2, 3… per case, in the order the changes committed")
    type: str
    case_id: uuid.UUID
    external_id: str
    status: str
    occurred_at: datetime
    data: dict[str, Any]


class FeedPage(BaseModel):
    items: list[FeedEvent]
    next: int | None = Field(description="the from_seq of the next page; null when this is the last")


class Me(BaseModel):
    name: str
    role: str


class ErrorOut(BaseModel):
    error: str
    message: str
