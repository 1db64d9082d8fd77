"""Running a case: the one place that turns a delivered message into graph progress.

Every message, whatever its kind, asks the same question: "what does this case's graph still
owe the commands stored in Postgres?" The runner compares the graph's checkpoint with the
decisions and appeals on record and feeds in only what the pending interrupt asks for. So a
duplicate, a redelivery after a crash or a retry does nothing twice, and a message whose work is
already done is acknowledged without effect.

A message costs two round trips of its own (see `turn`) around the graph's checkpoint read, its
run and the ledger's calls; every change of the case's status goes through the one writer
(`shared.transitions`), in the transaction that marks the message done.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from langgraph.types import Command
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from shared import audit, transitions
from shared.audit import SYSTEM
from shared.domain import CommandKind, Status
from shared.logging import case_context
from shared.transitions import Statement
from shared.quality import Rates
from services.worker import complaints, metrics, quality
from services.worker.checkpoints import GraphPerThread
from services.worker.ledger import ActionLedger
from services.worker.review import APPEAL_PAUSE, REVIEW_PAUSE
from services.worker.statements import StatementsOfReasons
from services.worker.turn import CaseView, Turn, turn

log = logging.getLogger(__name__)

NOTHING = object()  # no input is owed to the graph
_INTERRUPT = "__interrupt__"  # where `invoke` returns the pause it stopped at
_CAN_FAIL = transitions.sources_of(Status.FAILED)
_MAY_START = frozenset({CommandKind.START, CommandKind.RETRY})  # the messages that may find a case in `received`


@dataclass(frozen=True)
class Rest:
    """Where a graph rests after a run: paused at an interrupt, ended, or stopped half-way."""

    values: dict
    pause: dict | None  # the interrupt's payload
    ended: bool

    @classmethod
    def of_snapshot(cls, snapshot: Any) -> "Rest":
        pause = snapshot.interrupts[0].value if snapshot.interrupts else None
        return cls(dict(snapshot.values), pause, ended=bool(snapshot.values) and not snapshot.next)

    @classmethod
    def of_result(cls, result: dict) -> "Rest":
        # `invoke` returns when the graph pauses (its interrupts under __interrupt__) or ends; an
        # error propagates instead. So a result without interrupts is an end.
        interrupts = result.get(_INTERRUPT)
        return cls(result, interrupts[0].value if interrupts else None, ended=not interrupts)

    @property
    def at_review(self) -> bool:
        return self.pause is not None and self.pause["kind"] == REVIEW_PAUSE


class CaseRunner:
    def __init__(self, *, db: ConnectionPool, graphs: GraphPerThread, ledger: ActionLedger, max_attempts: int,
                 lock_timeout_ms: int, appeal_window: timedelta, statements: StatementsOfReasons | None = None,
                 rates: Rates = Rates()) -> None:
        self._db = db
        self._graphs = graphs
        self._ledger = ledger
        self._max_attempts = max_attempts
        self._lock_timeout_ms = lock_timeout_ms
        self._appeal_window = appeal_window
        self._statements = statements or StatementsOfReasons.defaults()
        self._rates = rates

    def handle(self, *, case_id: str, message_id: str, kind: CommandKind) -> None:
        started = time.perf_counter()
        outcome = "error"
        with case_context(case_id):
            try:
                outcome = self._handle(uuid.UUID(case_id), uuid.UUID(message_id), CommandKind(kind))
            finally:
                metrics.MESSAGES.labels(str(kind), outcome).inc()
                metrics.STEP_SECONDS.labels(str(kind)).observe(time.perf_counter() - started)

    def _handle(self, case_id: uuid.UUID, message_id: uuid.UUID, kind: CommandKind) -> str:
        with turn(self._db, case_id=case_id, message_id=message_id) as current:
            current.open(lock_timeout_ms=self._lock_timeout_ms, may_start=kind in _MAY_START)
            case, attempts = current.case, current.attempts
            if attempts is None:
                log.info("message %s already took effect (or its case is gone)", message_id)
                return "duplicate"
            if case.status == Status.FAILED and kind != CommandKind.RETRY:
                current.close()
                return "skipped"
            if case.final:
                # Nothing can reopen a final case and its graph thread is gone: running the graph
                # would start it over. A late or stray message is acknowledged without effect.
                current.close()
                return "final"
            if attempts > self._max_attempts:
                # Only deliveries that died with their worker get here: Retries never counted them.
                self._fail(current, step=str(kind), error=f"gave up after {attempts - 1} deliveries")
                return "failed"
            # A case this turn just started has no checkpoint, and the opening batch of a decision's
            # or an appeal's turn read it: LangGraph need not look for it.
            graph = self._graphs.on(current.connection, latest=None if current.started else current.checkpoint)
            # What the run writes (its checkpoint, the ledger's marks) waits for the closing batch.
            with self._ledger.deferring() as marks:
                try:
                    rest = self._advance(case, graph=graph, fresh=current.started,
                                         answer=_answer_in_sync(case, kind=kind, attempts=attempts))
                except Exception as error:
                    step = self._pending_step(graph, case_id) or str(kind)
                    writes = graph.checkpointer.take() + marks
                    if attempts >= self._max_attempts:
                        self._fail(current, step=step, error=repr(error), writes=writes)
                        return "failed"
                    current.abandon(error=f"{step}: {error!r}", writes=writes)
                    raise  # Dramatiq retries it with backoff
            checkpoint = graph.checkpointer.take()
            # A graph that ended leaves no thread (its case is final: the move ends the thread).
            self._record(current, rest, writes=([] if rest.ended else checkpoint) + marks)
            return "done"

    # -- progress ----------------------------------------------------------------------------

    def _advance(self, case: CaseView, *, graph: Any, fresh: bool, answer: dict | None) -> Rest:
        config = self._config(case.id)
        if fresh:
            # Only a turn moves a case out of `received`, before its graph runs: no checkpoint exists.
            owed = _start_input(case)
        elif answer is not None:
            owed = Command(resume=answer)  # the graph rests where the read model says (see _answer_in_sync)
        else:
            snapshot = graph.get_state(config)
            owed = self._owed_input(case, snapshot)
            if owed is NOTHING:
                return Rest.of_snapshot(snapshot)
        # "exit" writes checkpoints only when the run stops (pause, end or error): half the writes
        # of "async". Safe here because every node is idempotent and a run that died is re-run.
        return Rest.of_result(graph.invoke(owed, config, durability="exit"))

    @staticmethod
    def _owed_input(case: CaseView, snapshot: Any) -> Any:
        if not snapshot.values and not snapshot.next:
            return _start_input(case)
        if snapshot.interrupts:
            answer = _stored_answer(case, snapshot.interrupts[0].value)
            return NOTHING if answer is None else Command(resume=answer)
        if snapshot.next:
            return None  # a run stopped half-way (crash or error): continue from the checkpoint
        return NOTHING

    # -- the read model ------------------------------------------------------------------------

    def _record(self, current: Turn, rest: Rest, *, writes: list) -> None:
        """Write where the graph rests into the read model, unless a person already moved on (the
        move is then not allowed from where the case is: the api moved it, its message is on the way)."""
        case = current.case
        statements = _analysis_recorded(case, rest)
        move = _move_to_rest(case.id, rest, appeal_window=self._appeal_window)
        if move is not None:
            statements.append(move)
            statements.extend(quality.samples(case, rest, rates=self._rates))  # drawn for a blind second look?
            statements.extend(self._statements.with_move(case, rest))  # issued or reversed after the move
            statements.extend(complaints.with_move(case, rest))  # a complaint's outcome, for its platform
        rows = current.close(statements, writes=writes)
        if move is not None and rows[statements.index(move)] is not None:
            _observe(case, rest)

    def _fail(self, current: Turn, *, step: str, error: str, writes: list = ()) -> None:
        case = current.case
        statements = []
        if case.status in _CAN_FAIL:
            # No one else moves a case in a working status, so the one we read under the lock holds.
            statements.append(transitions.move_statement(
                case_id=case.id, to=Status.FAILED, actor=SYSTEM, event="step_failed", expect=[case.status],
                data={"step": step, "error": error, "attempts": current.attempts},
                set={"error": {"step": step, "message": error, "status": str(case.status),
                               "attempts": current.attempts}}))
        current.close(statements, writes=list(writes))
        log.error("case %s failed at %s: %s", case.id, step, error)

    def _pending_step(self, graph: Any, case_id: uuid.UUID) -> str | None:
        try:
            snapshot = graph.get_state(self._config(case_id))
        except Exception:  # the checkpointer may be what failed; the step is then unknown
            return None
        return snapshot.next[0] if snapshot.next else None

    @staticmethod
    def _config(case_id: uuid.UUID) -> dict:
        # LangSmith, when its environment is set, traces the run with the case id attached.
        return {"configurable": {"thread_id": str(case_id)}, "run_name": "case",
                "metadata": {"case_id": str(case_id)}}


def _start_input(case: CaseView) -> dict:
    # round 1, or the round a quality reviewer's finding reopened the case in (with that finding)
    return {"case_id": str(case.id), "external_id": case.external_id, "tenant": case.tenant, "content": case.content,
            "round": case.review_round, "attempt": 0, "qa": case.qa}


def _answer_in_sync(case: CaseView, *, kind: CommandKind, attempts: int) -> dict | None:
    """The answer a decision's or an appeal's own message carries, when the graph's checkpoint can
    be known without reading it. A turn commits the checkpoint with the read model, so after a
    clean history (this is the message's first delivery and no other message for the case is
    unsettled) a case the api moved out of review rests at that review's interrupt, and one it
    moved out of `closed` at that round's appeal window. Anything else reads the checkpoint."""
    if attempts != 1 or case.unsettled:
        return None
    if kind == CommandKind.RESUME and case.status in (Status.EXECUTING, Status.ANALYZING):
        pause = {"kind": REVIEW_PAUSE, "round": case.review_round, "attempt": case.review_attempt}
    elif kind == CommandKind.ROLLBACK and case.status == Status.ROLLING_BACK:
        pause = {"kind": APPEAL_PAUSE, "round": case.review_round}
    else:
        return None
    return _stored_answer(case, pause)


def _stored_answer(case: CaseView, pause: dict) -> dict | None:
    """The record that answers a pause: the decision of that review, or the appeal of that round."""
    if pause["kind"] == REVIEW_PAUSE:
        decision = case.decision(round=pause["round"], attempt=pause.get("attempt", 0))
        return decision and {"decision": decision["decision"], "note": decision["note"], "by": decision["by"]}
    appeal = case.appeal(round=pause["round"])
    return appeal and {"reason": appeal["reason"], "by": appeal["by"]}


def _analysis_recorded(case: CaseView, rest: Rest) -> list[Statement]:
    """The audit event of the analysis this run made, once (its round and attempt are its key), and
    a shadowed candidate's verdict of it. An analysis is followed by a review or the end: a run that
    rests elsewhere (the appeal window, or half-way) made none to record since its last one was."""
    case_id = case.id
    values = rest.values
    done = values.get("analysed_in")
    if not done or not (rest.ended or rest.at_review):
        return []
    round, attempt = done["round"], done["attempt"]
    data = {"analysis": values["analysis"], "round": round, "attempt": attempt}
    return [Statement(audit.RECORD, (case_id, SYSTEM, "analysis_completed", Jsonb(data),
                               f"{case_id}:analysis:r{round}:a{attempt}")),
            *quality.shadow_recorded(case, analysis=values["analysis"], round=round, attempt=attempt)]


def _move_to_rest(case_id: uuid.UUID, rest: Rest, *, appeal_window: timedelta) -> Statement | None:
    values, data = rest.values, {}
    if rest.at_review:
        to, round, attempt = Status.AWAITING_REVIEW, rest.pause["round"], rest.pause["attempt"]
        columns = {"review": rest.pause, "analysis": values.get("analysis")}
    elif rest.pause is not None:
        to, round, attempt = Status.CLOSED, rest.pause["round"], values.get("attempt", 0)
        columns = {"review": None}
        data["decision"] = (values.get("decision") or {}).get("decision")  # its actions and statement follow
    elif rest.ended:
        to, round, attempt = Status.AUTO_CLOSED, values["round"], values["attempt"]
        columns = {"review": None, "analysis": values.get("analysis")}
    else:
        return None  # stopped half-way: nothing to show yet
    data.update(round=round, attempt=attempt)
    return transitions.move_statement(
        case_id=case_id, to=to, actor=SYSTEM, event=str(to), data=data,
        dedupe_key=f"{case_id}:{to}:r{round}:a{attempt}",
        set={**columns, "review_round": round, "review_attempt": attempt, "error": None},
        appealable_for=appeal_window if to == Status.CLOSED else None)


def _observe(case: CaseView, rest: Rest) -> None:
    if rest.pause is None:
        return
    now = time.time()
    if rest.pause["kind"] == REVIEW_PAUSE:
        if (rest.pause["round"], rest.pause["attempt"]) == (1, 0):
            metrics.RECEIVED_TO_REVIEW.observe(now - case.created_at)
        return
    decision = case.decision(round=rest.pause["round"], attempt=rest.values.get("attempt", 0))
    if decision is not None:
        metrics.DECISION_TO_CLOSED.observe(now - decision["at"])
