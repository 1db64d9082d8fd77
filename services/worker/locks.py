"""One run per case at a time, across all workers: a session advisory lock in Postgres."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


@contextmanager
def case_lock(engine: Engine, case_id: uuid.UUID, *, timeout_ms: int) -> Iterator[None]:
    """A second delivery for the case waits (up to the timeout, then Dramatiq retries it) rather
    than failing the case. A worker that dies releases the lock with its connection."""
    key = {"key": str(case_id)}
    with engine.connect() as conn:
        conn.execute(text(f"SET lock_timeout = {int(timeout_ms)}"))
        conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), key)
        conn.commit()
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), key)
                conn.execute(text("RESET lock_timeout"))
                conn.commit()
            except Exception:
                conn.invalidate()  # closing the connection is what releases the lock then
                raise
