"""Appending to the audit log. There is no function to change a record: the log only grows."""

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.models import AuditEvent

SYSTEM = "system:worker"


def record(
    session: Session,
    *,
    case_id: uuid.UUID,
    actor: str,
    event: str,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Append one event in the caller's transaction; an event with a dedupe key is recorded once."""
    statement = insert(AuditEvent).values(
        case_id=case_id,
        actor=actor,
        event=event,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
        dedupe_key=dedupe_key,
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))
