"""One message's turn on a case, in two database round trips around the graph's work.

Opening (one pipelined batch on one pooled connection): take the case's advisory lock, move a
`received` case to `analyzing` (a start's or a retry's turn only), count the delivery in the inbox
and read the case with the decisions and appeals on record (one statement), commit. Each statement runs after the one before it, so the reads see what the
lock's previous holder committed; the count is committed before any work, so a delivery that kills
the worker is counted too.

Between the two, the connection stays in a transaction the graph's checkpoints join (see
`checkpoints.GraphPerThread.on`). Closing (one batch): the read-model writes the work calls for,
the message marked done, commit, unlock: the checkpoint, the read model and the inbox change
together or not at all. A turn that ends in an error commits the checkpoint the failed run left
(where a retry continues), notes the error and unlocks. A connection that breaks takes the lock
with it (Postgres releases a session's advisory locks when it ends).
"""

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from shared import transitions
from shared.audit import SYSTEM
from shared.domain import Status
from shared.transitions import Statement
from services.worker import checkpoints, inbox, locks

log = logging.getLogger(__name__)


# The delivery counted (see `inbox.COUNT`) and the case read, in one statement: the read cannot
# see the count's row, and needs not (it looks for other messages).
_COUNT_AND_READ = f"""
    WITH counted AS ({inbox.COUNT})
    SELECT (SELECT attempts FROM counted), c.status, c.review_round, c.review_attempt, c.external_id, c.content,
           extract(epoch FROM c.created_at) AS created_at, c.tenant, c.metadata, c.final_at IS NOT NULL AS final,
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'round', d.round, 'attempt', d.attempt, 'decision', d.decision, 'note', d.note,
                'by', d.decided_by, 'at', extract(epoch FROM d.created_at))), '[]')
            FROM decisions d WHERE d.case_id = c.id) AS decisions,
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'round', a.round, 'reason', a.reason, 'by', a.filed_by, 'source', a.source, 'basis', a.basis,
                'reference', a.reference)), '[]')
            FROM appeals a WHERE a.case_id = c.id) AS appeals,
           EXISTS (SELECT 1 FROM message_attempts m
                   WHERE m.case_id = c.id AND m.done_at IS NULL AND m.message_id <> %(message_id)s) AS unsettled,
           (SELECT jsonb_build_object('sample', q.id, 'decision', q.decision, 'violation', q.violation, 'note', q.note,
                                      'by', q.reviewed_by)
            FROM qa_samples q WHERE q.case_id = c.id AND q.reopened ORDER BY q.round DESC LIMIT 1) AS qa
    FROM cases c WHERE c.id = %(case_id)s"""


@dataclass(frozen=True)
class CaseView:
    """What a turn knows of its case once it holds the lock."""

    id: uuid.UUID
    status: Status
    review_round: int
    review_attempt: int
    external_id: str
    content: dict
    created_at: float  # epoch seconds
    decisions: dict[tuple[int, int], dict] = field(repr=False)  # (round, attempt) → the decision
    appeals: dict[int, dict] = field(repr=False)  # round → the appeal
    # Another message for the case was taken up and has not taken effect: a turn that failed or
    # died may have left its graph somewhere the read model does not say.
    unsettled: bool = False
    final: bool = False  # no appeal can reopen it; its graph thread was ended (see shared/threads.py)
    tenant: str = ""  # the upstream's, and its metadata as posted (statements of reasons read them)
    metadata: dict = field(default_factory=dict, repr=False)
    qa: dict | None = None  # the quality review that reopened it, if one did (shared/quality.py)

    def decision(self, *, round: int, attempt: int) -> dict | None:
        return self.decisions.get((round, attempt))

    def appeal(self, *, round: int) -> dict | None:
        return self.appeals.get(round)


class Turn:
    def __init__(self, conn: Connection, *, case_id: uuid.UUID, message_id: uuid.UUID) -> None:
        self.connection = conn  # the graph's checkpoints go through it too, in the turn's transaction
        self.case_id = case_id
        self.message_id = message_id
        self.attempts: int | None = None
        self.case: CaseView | None = None
        self.started = False  # this turn moved the case out of `received`: it has no checkpoint yet
        self.checkpoint: Any = checkpoints.UNREAD  # the graph's latest, when the opening batch read it
        self._locked = False

    def open(self, *, lock_timeout_ms: int, may_start: bool = True) -> None:
        """`may_start=False` for a message that cannot find its case in `received` (a decision's, an
        appeal's: the api moved the case elsewhere to send it): one statement fewer, and its graph's
        latest checkpoint, which its run resumes from, read in the batch (`checkpoint`)."""
        start = transitions.move_statement(
            case_id=self.case_id, to=Status.ANALYZING, actor=SYSTEM, event="analysis_started",
            expect=[Status.RECEIVED],
            dedupe_key=f"{self.case_id}:analysis_started:{self.message_id}") if may_start else None
        conn = self.connection
        self._locked = True  # maybe: a batch that fails half-way may hold the lock; unlocking is harmless
        with conn.pipeline():
            conn.execute("BEGIN")
            # A second delivery for the case waits (up to the timeout, then Dramatiq retries it).
            # (statement_timeout too, or it would cut the wait short; both end with the transaction.)
            timeout = str(int(lock_timeout_ms))
            conn.execute(locks.LOCK, (timeout, timeout, str(self.case_id)))
            started = conn.execute(start.sql, start.params) if start is not None else None
            read = conn.execute(_COUNT_AND_READ, {"case_id": self.case_id, "message_id": self.message_id})
            conn.execute("COMMIT")
            conn.execute("BEGIN")  # the work's transaction
            latest = checkpoints.read_latest(conn, str(self.case_id)) if not may_start else None
        if latest is not None:
            self.checkpoint = latest.fetchone()
        row = read.fetchone()
        self.attempts = row[0] if row else None
        self.started = started is not None and started.fetchone() is not None
        self.case = _view(self.case_id, row[1:] if row else None)

    def close(self, statements: Sequence[Statement] = (), *, writes: list = ()) -> list[Any]:
        """Send the `writes` the run left waiting (its checkpoint, see `checkpoints.TurnSaver`, and
        the ledger's marks), run `statements`, mark the message done, commit and unlock; the first
        row of each statement."""
        conn = self.connection
        if conn.info.transaction_status == TransactionStatus.INERROR:
            conn.rollback()  # the work failed in the database: what it wrote there is gone anyway
        with conn.pipeline():
            if conn.info.transaction_status == TransactionStatus.IDLE:
                conn.execute("BEGIN")
            checkpoints.send(conn, list(writes))
            cursors = [conn.execute(statement.sql, statement.params) for statement in statements]
            conn.execute(inbox.MARK_DONE, (self.message_id,))
            conn.execute("COMMIT")
            conn.execute(locks.UNLOCK, (str(self.case_id),))
        self._locked = False
        return [cursor.fetchone() if cursor.description else None for cursor in cursors]

    def abandon(self, *, error: str, writes: list = ()) -> None:
        """The work failed: keep what it left (the checkpoint, the ledger's marks), note why on the
        message (Dramatiq retries it) and unlock. (A COMMIT of a transaction that a database error
        aborted rolls it back.)"""
        conn = self.connection
        with conn.pipeline():
            if conn.info.transaction_status == TransactionStatus.INTRANS:
                checkpoints.send(conn, list(writes))
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("COMMIT")
            conn.execute(inbox.NOTE_ERROR, (error[:2000], self.message_id))
            conn.execute(locks.UNLOCK, (str(self.case_id),))
        self._locked = False

    def release(self) -> None:
        if self._locked:
            self.connection.execute(locks.UNLOCK, (str(self.case_id),))
            self._locked = False


def _view(case_id: uuid.UUID, row: Any) -> CaseView | None:
    if row is None:
        return None
    (status, review_round, review_attempt, external_id, content, created_at, tenant, metadata, final, decisions, appeals,
     unsettled, qa) = row
    return CaseView(
        id=case_id, status=Status(status), review_round=review_round, review_attempt=review_attempt,
        external_id=external_id, content=content, created_at=float(created_at),
        decisions={(d["round"], d["attempt"]): d for d in decisions},
        appeals={a["round"]: a for a in appeals}, unsettled=unsettled, final=final, tenant=tenant,
        metadata=metadata or {}, qa=qa,
    )


@contextmanager
def turn(pool: ConnectionPool, *, case_id: uuid.UUID, message_id: uuid.UUID) -> Iterator[Turn]:
    """A turn on one pooled connection; whatever happens, the lock is released when it ends."""
    with pool.connection() as conn:
        current = Turn(conn, case_id=case_id, message_id=message_id)
        try:
            yield current
        finally:
            _give_back(conn, current)


def _give_back(conn: Connection, current: Turn) -> None:
    try:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()
        current.release()
    except Exception:
        log.warning("could not unlock case %s; closing its connection, which releases the lock", current.case_id)
        conn.close()
