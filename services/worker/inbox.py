"""The worker's inbox: each delivery of a message is counted before any work, and a message is
marked done in the same transaction as the effect it had, so a delivery after that is a no-op."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.models import MessageAttempt


def count_delivery(sessions: sessionmaker[Session], *, message_id: uuid.UUID, case_id: uuid.UUID) -> int | None:
    """This delivery's number, committed on its own so a delivery that kills the worker is counted
    too; None when the message already took effect."""
    with transaction(sessions) as session:
        row = session.execute(
            insert(MessageAttempt)
            .values(message_id=message_id, case_id=case_id, attempts=1)
            .on_conflict_do_update(
                index_elements=["message_id"],
                set_={"attempts": MessageAttempt.attempts + 1},
                where=MessageAttempt.done_at.is_(None),
            )
            .returning(MessageAttempt.attempts)
        ).first()
    return row.attempts if row else None


def mark_done(session: Session, message_id: uuid.UUID) -> None:
    """In the caller's transaction: the one that records what the message did."""
    session.get(MessageAttempt, message_id).done_at = datetime.now(UTC)


def finish(sessions: sessionmaker[Session], message_id: uuid.UUID) -> None:
    with transaction(sessions) as session:
        mark_done(session, message_id)


def note_error(sessions: sessionmaker[Session], message_id: uuid.UUID, error: str) -> None:
    with transaction(sessions) as session:
        session.get(MessageAttempt, message_id).last_error = error[:2000]
