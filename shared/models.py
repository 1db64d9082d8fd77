"""The tables: the read model of cases, the audit log, decisions, appeals, the action ledger,
the outbox, the worker's message inbox and API keys. Postgres is the single source of truth."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime

from shared.domain import ActionStatus, Status


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, datetime: DateTime(timezone=True)}


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _case_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"), index=True)


def _created_at() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class Case(Base):
    """The read model: what the api serves. Only the api's commands and the worker write it."""

    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = _uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    # The upstream that posted it (external ids are unique per tenant); by default its poster.
    tenant: Mapped[str] = mapped_column(Text, default=lambda ctx: ctx.get_current_parameters()["created_by"])
    external_id: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(Text, default=Status.RECEIVED)
    review_round: Mapped[int] = mapped_column(Integer, default=1)
    review_attempt: Mapped[int] = mapped_column(Integer, default=0)
    analysis: Mapped[dict[str, Any] | None]
    review: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    actions_refused: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The review desk: set by the one writer when the case enters review, raised by escalation.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    due_at: Mapped[datetime | None]
    escalations: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    escalated_to_supervisors: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    claimed_by: Mapped[str | None] = mapped_column(Text)
    claim_expires_at: Mapped[datetime | None]
    # Appeal windows: set when a decision has executed; `final_at` once the window closed.
    appealable_until: Mapped[datetime | None]
    final_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        Index("ix_cases_status_seq", "status", "seq"),
        Index("ix_cases_queue", "status", text("priority DESC"), "seq"),
        UniqueConstraint("tenant", "external_id", name="uq_cases_tenant_external_id"),
    )


class AuditEvent(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): every transition, by whom, when, with what."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[uuid.UUID] = _case_fk()
    at: Mapped[datetime] = _created_at()
    actor: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # A worker step that runs again after a crash records its event once.
    dedupe_key: Mapped[str | None] = mapped_column(Text, unique=True)


class DecisionRecord(Base):
    __tablename__ = "decisions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    case_id: Mapped[uuid.UUID] = _case_fk()
    round: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()

    # One decision per review: the database refuses a second one even if a state check slipped.
    __table_args__ = (UniqueConstraint("case_id", "round", "attempt"),)


class Appeal(Base):
    __tablename__ = "appeals"

    id: Mapped[uuid.UUID] = _uuid_pk()
    case_id: Mapped[uuid.UUID] = _case_fk()
    round: Mapped[int] = mapped_column(Integer)  # the round whose decision is appealed
    reason: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="supervisor")  # or a complainant (shared.domain.COMPLAINANTS)
    basis: Mapped[str | None] = mapped_column(Text)  # a complaint's (shared.domain.COMPLAINT_BASES)
    reference: Mapped[str | None] = mapped_column(Text)  # the platform's id of a complaint
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (UniqueConstraint("case_id", "round"),)


class Action(Base):
    """The action ledger: recorded before the platform is called, marked when it answers."""

    __tablename__ = "actions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    case_id: Mapped[uuid.UUID] = _case_fk()
    round: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    kind: Mapped[str] = mapped_column(Text)
    target_id: Mapped[str] = mapped_column(Text)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("actions.id"))
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(Text, default=ActionStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created_at()
    confirmed_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A command for the worker, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = _uuid_pk()  # becomes the Dramatiq message id
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    case_id: Mapped[uuid.UUID] = _case_fk()
    kind: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    published_at: Mapped[datetime | None]
    publish_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )


class MessageAttempt(Base):
    """The worker's inbox: how often a message was taken up, and whether it took effect."""

    __tablename__ = "message_attempts"

    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = _case_fk()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = _created_at()
    done_at: Mapped[datetime | None]


class ApiKey(Base):
    """Keys are stored as SHA-256 digests: they are random 256-bit secrets, so no slow hash is needed.

    `name` is the person or system (what the audit trail records); one name may hold two keys while
    a rotation's grace period runs. `key_prefix` is a non-secret part of the key that lets an
    operator tell keys apart; `tenant` is whose cases an upstream key posts and reads."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(Text, index=True)
    role: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    key_prefix: Mapped[str | None] = mapped_column(Text, index=True)
    tenant: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CaseEvent(Base):
    """The events outbox: every change of a case (status, action), written by the one writer in the
    change's transaction and fanned out to the subscribers of the moment (`WebhookDelivery`)."""

    __tablename__ = "case_events"

    id: Mapped[uuid.UUID] = _uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cases.id", ondelete="CASCADE"))
    case_seq: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3… per case (uq_case_events_case_seq)
    tenant: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    dedupe_key: Mapped[str | None] = mapped_column(Text)  # unique where set (uq_case_events_dedupe_key)
    occurred_at: Mapped[datetime] = _created_at()


class Webhook(Base):
    """A subscriber: `events` are types or '*'; kind 'statements' gets statements in batches."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = _uuid_pk()
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    secret: Mapped[str] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, server_default="events")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("case_events.id", ondelete="CASCADE"))
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text, server_default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = _created_at()
    leased_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # what the subscriber said of a delivered one
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (UniqueConstraint("event_id", "webhook_id"),)


class StatementOfReasons(Base):
    """EU DSA Art. 17: one per restricting decision executed; `body` in the Transparency Database's
    submission format; a reversal after an appeal is recorded against it."""

    __tablename__ = "statements"

    id: Mapped[uuid.UUID] = _uuid_pk()
    case_id: Mapped[uuid.UUID] = _case_fk()
    round: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime] = _created_at()
    reversed_at: Mapped[datetime | None]
    reversal: Mapped[dict[str, Any] | None]

    __table_args__ = (UniqueConstraint("case_id", "round"),)
