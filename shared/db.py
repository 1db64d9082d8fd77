"""Database access: one engine per process, sessions from it, and the outbox write."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from shared.models import OutboxMessage
from shared.settings import Settings

OUTBOX_CHANNEL = "vigil_outbox"


def make_engine(settings: Settings, *, pool_size: int | None = None) -> Engine:
    return create_engine(
        settings.sqlalchemy_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        pool_timeout=2,
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with sessions() as session, session.begin():
        yield session


def enqueue(session: Session, *, case_id: uuid.UUID, kind: str) -> OutboxMessage:
    """Add a command to the outbox in the caller's transaction and wake the relays on commit."""
    message = OutboxMessage(id=uuid.uuid4(), case_id=case_id, kind=kind)
    session.add(message)
    session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return message
