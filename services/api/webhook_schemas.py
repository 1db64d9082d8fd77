"""Bodies of /v1/webhooks: a subscriber as registered and shown (never its secret), its deliveries."""

import uuid
from datetime import datetime
from typing import Any, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field

from shared import events
from services.api.schemas import Identifier, Strict, Text

MAX_FILTERS = 50


def http_url(value: str) -> str:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7f for ch in value):
        raise ValueError("must not contain white space or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@): the signature authenticates Vigil")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.fragment:
        raise ValueError("must not have a #fragment (it is never sent)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def _event_filters(value: list[str]) -> list[str]:
    unknown = [pattern for pattern in value if not events.known_filter(pattern)]
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(map(repr, unknown[:5]))}; use '*', '<prefix>.*' or one "
                         f"of {', '.join(sorted(events.types()))}")
    return list(dict.fromkeys(value))  # each once, in the order given


class WebhookCreate(Strict):
    url: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(http_url)]
    events: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                      Field(min_length=1, max_length=MAX_FILTERS), AfterValidator(_event_filters)]
    secret: Annotated[Text, Field(min_length=16, max_length=512,
                                  description="signs every callback (HMAC-SHA256); at least 16 characters")]
    tenant: Identifier | None = Field(default=None, description="only this upstream's cases; none: every tenant's")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    tenant: str | None
    kind: str = Field(description="'events': one event per POST; 'statements': statements of reasons in batches")
    created_by: str
    created_at: datetime
    pending: int = Field(description="deliveries waiting: due, backing off or in flight")
    dead: int = Field(description="deliveries that gave up; replay them with POST .../replay")


DeliveryStatus = Literal["pending", "delivered", "dead"]


class DeliveryOut(BaseModel):
    id: int
    event_id: uuid.UUID
    type: str
    case_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    answer: dict[str, Any] | None = Field(description="what the subscriber said of it, where it says anything per "
                                                      "delivery (the Transparency Database: uuid and permalink, or "
                                                      "that it had accepted the statement before)")


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next: str | None


class Replayed(BaseModel):
    replayed: int = Field(description="dead deliveries put back on their way")
