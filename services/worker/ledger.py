"""The action ledger: each platform action is recorded before it is called and marked when the
platform answers, so a retry or a redelivery never repeats an action the platform confirmed.

An action in doubt (the process died between the call and the mark) stays `pending` and is called
again with the same Idempotency-Key, which the platform answers without a second effect. A refusal
(a 4xx other than 408, 409 and 429) is final: the action is marked `refused` and its case flagged `actions_refused`, in the
transaction that records it.

Each record is one round trip of its own, committed before the call. A mark is one too, or none
inside a turn (`deferring`): the runner then sends it with the turn's closing batch, in the
transaction that records the step. Should that transaction never commit, the action stays
`pending`, which is the action in doubt above: called again with its key, harmless.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from shared import events
from shared.audit import SYSTEM
from shared.domain import REVERSAL, ActionKind, ActionStatus
from services.worker.connections import Platforms
from services.worker.platform import REVERSAL as REVERSAL_DECISION, PlatformCall, PlatformRefused, PlatformUnavailable


# A new action, or one more attempt at one still pending; no row when it was settled before.
# The record is committed before the call (a worker that dies after it leaves the action pending),
# in one statement of its own transaction that does not wait for the WAL flush (the set_config in
# FROM): only a crash of Postgres itself can lose it, and with it the turn that made it, whose
# message is then delivered again and calls with the same key.
# The case's tenant comes back with the record: its connection says which platform to call.
_RECORD = """
    WITH recorded AS (
        INSERT INTO actions (id, case_id, round, kind, target_id, reverses_id, idempotency_key, status, attempts)
        SELECT gen_random_uuid(), %(case_id)s, %(round)s, %(kind)s, %(target_id)s, %(reverses_id)s, %(key)s, 'pending', 1
        FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait
        ON CONFLICT (idempotency_key) DO UPDATE SET attempts = actions.attempts + 1 WHERE actions.status = 'pending'
        RETURNING id, status, case_id)
    SELECT r.id, r.status, c.tenant FROM recorded r JOIN cases c ON c.id = r.case_id"""
_SETTLED = "SELECT id, status, NULL FROM actions WHERE idempotency_key = %s"
_MARK = """
    UPDATE actions SET status = %(status)s, last_error = %(error)s, response = %(response)s,
           confirmed_at = CASE WHEN %(status)s = 'confirmed' THEN now() END
    WHERE id = %(id)s"""
_ANSWER_EVENT = events.appended("""c.id, c.tenant, %(type)s, c.status, %(data)s, %(dedupe_key)s
        FROM cases c JOIN marked m ON m.case_id = c.id""", deduped=True)
# The platform's answer, settled in one statement: the mark, its audit event, the event for the
# platform's subscribers (once per key, like the audit event) and, for a refusal, the case's flag.
_SETTLE = f"""
    WITH marked AS ({_MARK}
        RETURNING case_id
    ), audited AS (
        INSERT INTO audit_events (case_id, actor, event, data, dedupe_key)
        SELECT case_id, '{SYSTEM}', %(event)s, %(data)s, %(dedupe_key)s FROM marked
        ON CONFLICT (dedupe_key) DO NOTHING
    ), flagged AS (
        UPDATE cases SET actions_refused = true WHERE id = %(case_id)s AND %(status)s = 'refused'
    ){_ANSWER_EVENT}
    SELECT 1"""
_IN_EFFECT = """
    SELECT a.id, a.kind, a.target_id, a.idempotency_key FROM actions a
    WHERE a.case_id = %(case_id)s AND a.status = 'confirmed' AND a.reverses_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM actions r
                      WHERE r.case_id = a.case_id AND r.reverses_id = a.id AND r.status = 'confirmed')
    ORDER BY a.seq DESC"""


# The marks waiting for the turn in hand (LangGraph runs nodes in this context or a copy of it).
_DEFERRED: ContextVar[list | None] = ContextVar("deferred_marks", default=None)


@dataclass(frozen=True)
class Action:
    id: uuid.UUID
    kind: ActionKind
    target_id: str
    status: ActionStatus


class ActionLedger:
    def __init__(self, *, db: ConnectionPool, platform: Platforms) -> None:
        self._db = db
        self._platforms = platform

    @contextmanager
    def deferring(self) -> Iterator[list]:
        """Marks made in this block wait in the list yielded, as (query, params, many) writes."""
        marks: list = []
        token = _DEFERRED.set(marks)
        try:
            yield marks
        finally:
            _DEFERRED.reset(token)

    def execute(self, *, case_id: uuid.UUID, round: int, decision: str, kind: ActionKind, target_id: str) -> Action:
        """Run one action of a decision: at most once per case, round and action."""
        key = f"{case_id}:r{round}:{kind}"
        return self._perform(case_id=case_id, round=round, decision=decision, kind=kind, target_id=target_id, key=key)

    def reverse_all(self, *, case_id: uuid.UUID, round: int) -> list[Action]:
        """Reverse what actually executed and is still in effect, newest first."""
        with self._db.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            in_effect = cursor.execute(_IN_EFFECT, {"case_id": case_id}).fetchall()
        return [
            self._perform(case_id=case_id, round=round, decision=REVERSAL_DECISION, kind=REVERSAL[ActionKind(kind)],
                          target_id=target_id, key=f"{case_id}:undo:{action_id}", reverses=(action_id, reversed_key))
            for action_id, kind, target_id, reversed_key in in_effect
        ]

    def _perform(self, *, case_id: uuid.UUID, round: int, decision: str, kind: ActionKind, target_id: str, key: str,
                 reverses: tuple[uuid.UUID, str] | None = None) -> Action:
        reverses_id, reversed_key = reverses or (None, None)
        with self._db.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:  # whatever the pool's rows
            row = cursor.execute(_RECORD, {"case_id": case_id, "round": round, "kind": str(kind),
                                           "target_id": target_id, "reverses_id": reverses_id, "key": key}).fetchone()
            if row is None:
                row = cursor.execute(_SETTLED, (key,)).fetchone()
        action = Action(id=row[0], kind=kind, target_id=target_id, status=ActionStatus(row[1]))
        if action.status != ActionStatus.PENDING:
            return action  # confirmed or refused before: never call the platform again
        call = PlatformCall(tenant=row[2], case_id=str(case_id), round=round, decision=decision, action=kind,
                            target_id=target_id, idempotency_key=key, reverses=reversed_key)
        try:
            response = self._platforms.for_tenant(call.tenant).perform(call)
        except PlatformRefused as refusal:
            status, error, response = ActionStatus.REFUSED, str(refusal), None
        except PlatformUnavailable as error:
            self._mark(action, status=ActionStatus.PENDING, error=str(error))
            raise
        else:
            status, error = ActionStatus.CONFIRMED, None
        audit = {"case_id": case_id, "key": key, "round": round, "reverses": reverses_id is not None}
        return self._mark(action, status=status, error=error, response=response, audit=audit)

    def _mark(self, action: Action, *, status: ActionStatus, error: str | None = None, response: dict | None = None,
              audit: dict | None = None) -> Action:
        mark = {"id": action.id, "status": str(status), "error": error,
                "response": Jsonb(response) if response is not None else None}
        if audit is None:
            query, params = _MARK, mark
        else:
            data = Jsonb({"action": str(action.kind), "target_id": action.target_id, "round": audit["round"],
                          "result": str(status), "error": error})
            query, params = _SETTLE, {**mark, "case_id": audit["case_id"], "data": data,
                                      "dedupe_key": f"action:{audit['key']}",
                                      "event": "action_reversed" if audit["reverses"] else "action_executed",
                                      "type": events.ACTION_REVERSED if audit["reverses"] else events.ACTION_EXECUTED}
        deferred = _DEFERRED.get()
        if deferred is not None:
            deferred.append((query, params, False))
        else:
            with self._db.connection() as conn:  # one statement on an autocommit connection: atomic alone
                conn.execute(query, params)
        return Action(id=action.id, kind=action.kind, target_id=action.target_id, status=status)
