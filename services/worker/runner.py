"""Running a case: the one place that turns a delivered message into graph progress.

Every message, whatever its kind, asks the same question: "what does this case's graph still
owe the commands stored in Postgres?" The runner compares the graph's checkpoint with the
decisions and appeals on record and feeds in only what the pending interrupt asks for. So a
duplicate, a redelivery after a crash or a retry does nothing twice, and a message whose work is
already done is acknowledged without effect.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.types import Command, StateSnapshot
from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.db import transaction
from shared.domain import CommandKind, Status
from shared.models import Appeal, Case, DecisionRecord, MessageAttempt
from services.worker import inbox
from services.worker.checkpoints import GraphPerThread
from services.worker.locks import case_lock
from services.worker.review import APPEAL_PAUSE, REVIEW_PAUSE

log = logging.getLogger(__name__)

NOTHING = object()  # no input is owed to the graph


def _answer_to(case_id: uuid.UUID, *, kind: str, round: int, attempt: int) -> Select:
    """The record that answers a pause: the decision of that review, or the appeal of that round."""
    if kind == REVIEW_PAUSE:
        return select(DecisionRecord).filter_by(case_id=case_id, round=round, attempt=attempt)
    return select(Appeal).filter_by(case_id=case_id, round=round)


@dataclass(frozen=True)
class Pause:
    """Where a graph rests, and what the read model says about it."""

    status: Status
    round: int
    attempt: int
    review: dict | None


class CaseRunner:
    def __init__(
        self,
        *,
        engine: Engine,
        sessions: sessionmaker[Session],
        graphs: GraphPerThread,
        max_attempts: int,
        lock_timeout_ms: int,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._graphs = graphs
        self._max_attempts = max_attempts
        self._lock_timeout_ms = lock_timeout_ms

    def handle(self, *, case_id: str, message_id: str, kind: CommandKind) -> None:
        case_uuid, message_uuid = uuid.UUID(case_id), uuid.UUID(message_id)
        with case_lock(self._engine, case_uuid, timeout_ms=self._lock_timeout_ms):
            attempts = inbox.count_delivery(self._sessions, message_id=message_uuid, case_id=case_uuid)
            if attempts is None:
                log.info("message %s for case %s already took effect", message_id, case_id)
                return
            with self._sessions() as session:
                case = session.get(Case, case_uuid)
            if case is None or (case.status == Status.FAILED and kind != CommandKind.RETRY):
                inbox.finish(self._sessions, message_uuid)
                return
            if attempts > self._max_attempts:
                # Only deliveries that died with their worker get here: Retries never counted them.
                self._fail(case, message_uuid, step=kind, error=f"gave up after {attempts - 1} deliveries")
                return
            try:
                self._advance(case, message_uuid)
            except Exception as error:
                step = self._pending_step(case_uuid) or str(kind)
                inbox.note_error(self._sessions, message_uuid, f"{step}: {error!r}")
                if attempts >= self._max_attempts:
                    self._fail(case, message_uuid, step=step, error=repr(error))
                    return
                raise  # Dramatiq retries it with backoff

    # -- progress ----------------------------------------------------------------------------

    def _advance(self, case: Case, message_id: uuid.UUID) -> None:
        graph = self._graphs.get()
        config = self._config(case)
        snapshot = graph.get_state(config)
        owed = self._owed_input(case, snapshot)
        if owed is not NOTHING:
            if not snapshot.values:
                self._set_status(case.id, Status.ANALYZING, event="analysis_started", expect=Status.RECEIVED)
            # "exit" writes checkpoints only when the run stops (pause, end or error): half the writes
            # of "async". Safe here because every node is idempotent and a run that died is re-run.
            graph.invoke(owed, config, durability="exit")
            snapshot = graph.get_state(config)
        self._sync(case.id, snapshot, message_id)

    def _owed_input(self, case: Case, snapshot: StateSnapshot) -> Any:
        if not snapshot.values and not snapshot.next:
            return {
                "case_id": str(case.id),
                "external_id": case.external_id,
                "content": case.content,
                "round": 1,
                "attempt": 0,
            }
        if snapshot.interrupts:
            pause = snapshot.interrupts[0].value
            answer = self._stored_answer(case.id, pause)
            return NOTHING if answer is None else Command(resume=answer)
        if snapshot.next:
            return None  # a run stopped half-way (crash or error): continue from the checkpoint
        return NOTHING

    def _stored_answer(self, case_id: uuid.UUID, pause: dict) -> dict | None:
        with self._sessions() as session:
            answer = session.scalar(_answer_to(case_id, kind=pause["kind"], round=pause["round"],
                                               attempt=pause.get("attempt", 0)))
        if isinstance(answer, DecisionRecord):
            return {"decision": answer.decision, "note": answer.note, "by": answer.decided_by}
        return answer and {"reason": answer.reason, "by": answer.filed_by}

    # -- the read model --------------------------------------------------------------------

    @staticmethod
    def _pause_of(snapshot: StateSnapshot) -> Pause | None:
        if snapshot.interrupts:
            value = snapshot.interrupts[0].value
            if value["kind"] == REVIEW_PAUSE:
                return Pause(Status.AWAITING_REVIEW, value["round"], value["attempt"], value)
            return Pause(Status.CLOSED, value["round"], snapshot.values.get("attempt", 0), None)
        if not snapshot.next and snapshot.values:
            return Pause(Status.AUTO_CLOSED, snapshot.values["round"], snapshot.values["attempt"], None)
        return None

    def _sync(self, case_id: uuid.UUID, snapshot: StateSnapshot, message_id: uuid.UUID) -> None:
        """Write where the graph rests into the read model, unless a person already moved on."""
        pause = self._pause_of(snapshot)
        with transaction(self._sessions) as session:
            case = session.get(Case, case_id, with_for_update=True)
            if pause and not self._answered_since(session, case, pause):
                if (case.status, case.review_round, case.review_attempt) != (pause.status, pause.round, pause.attempt):
                    audit.record(
                        session,
                        case_id=case_id,
                        actor=audit.SYSTEM,
                        event=str(pause.status),
                        from_status=case.status,
                        to_status=pause.status,
                        data={"round": pause.round, "attempt": pause.attempt},
                        dedupe_key=f"{case_id}:{pause.status}:r{pause.round}:a{pause.attempt}",
                    )
                case.status, case.review_round, case.review_attempt = pause.status, pause.round, pause.attempt
                case.review, case.error = pause.review, None
                case.version += 1
            inbox.mark_done(session, message_id)

    @staticmethod
    def _answered_since(session: Session, case: Case, pause: Pause) -> bool:
        """True when the api accepted a decision or appeal for this pause: its message is on the way."""
        kind = {Status.AWAITING_REVIEW: REVIEW_PAUSE, Status.CLOSED: APPEAL_PAUSE}.get(pause.status)
        if kind is None:
            return False
        return session.scalar(_answer_to(case.id, kind=kind, round=pause.round, attempt=pause.attempt)) is not None

    def _set_status(self, case_id: uuid.UUID, status: Status, *, event: str, expect: Status) -> None:
        with transaction(self._sessions) as session:
            case = session.get(Case, case_id, with_for_update=True)
            if case.status == expect:
                audit.record(session, case_id=case_id, actor=audit.SYSTEM, event=event, from_status=case.status,
                             to_status=status, dedupe_key=f"{case_id}:{event}")
                case.status = status
                case.version += 1

    def _fail(self, case: Case, message_id: uuid.UUID, *, step: str, error: str) -> None:
        with transaction(self._sessions) as session:
            current = session.get(Case, case.id, with_for_update=True)
            attempts = session.get(MessageAttempt, message_id).attempts
            audit.record(session, case_id=case.id, actor=audit.SYSTEM, event="step_failed",
                         from_status=current.status, to_status=Status.FAILED,
                         data={"step": step, "error": error, "attempts": attempts})
            if current.status != Status.FAILED:
                current.error = {"step": step, "message": error, "status": current.status, "attempts": attempts}
                current.status = Status.FAILED
                current.version += 1
            inbox.mark_done(session, message_id)
        log.error("case %s failed at %s: %s", case.id, step, error)

    def _pending_step(self, case_id: uuid.UUID) -> str | None:
        try:
            snapshot = self._graphs.get().get_state(self._config_for(case_id))
        except Exception:  # the checkpointer may be what failed; the step is then unknown
            return None
        return snapshot.next[0] if snapshot.next else None

    # -- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _config_for(case_id: uuid.UUID) -> dict:
        return {"configurable": {"thread_id": str(case_id)}}

    def _config(self, case: Case) -> dict:
        # LangSmith, when its environment is set, traces the run with the case id attached.
        return {**self._config_for(case.id), "run_name": "case", "metadata": {"case_id": str(case.id)}}
