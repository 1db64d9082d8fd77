"""Database access: one engine per process, sessions from it, the outbox write, and the check the
async psycopg pools (api, dispatcher) run before handing out a connection."""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from shared.models import OutboxMessage
from shared.settings import Settings

OUTBOX_CHANNEL = "vigil_outbox"
IDLE_BEFORE_CHECK = 1.0  # seconds


async def check_when_idle(conn: AsyncConnection) -> None:
    """An empty query before handing out a connection that sat idle: after a database restart the
    pool holds dead connections, each of which would otherwise fail one request. A connection in
    steady use is handed out again within milliseconds and spared the round trip."""
    now = time.monotonic()
    last_used, conn.vigil_last_used = getattr(conn, "vigil_last_used", 0.0), now
    if now - last_used > IDLE_BEFORE_CHECK:
        await AsyncConnectionPool.check_connection(conn)


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
