"""The one writer of case state.

Every change of a case's status goes through `move` (several alike through `moves_statement`, a
new case through `create`): one SQL statement that checks the transition against `ALLOWED`, bumps
the version, appends the audit event, appends the event the platform's subscribers hear
(`shared.events`) and queues the worker's command in the outbox, in the caller's transaction. One
statement is one round trip, which is what makes the api's commands fast; and it is the one place
where later rules (deadlines, claims, callbacks) hook in.

The statement is built once per shape and run through psycopg, sync (the worker, the scheduler,
through a SQLAlchemy session's connection) or async (the api), with the same text.
"""

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy.orm import Session

from shared import events, threads
from shared.db import OUTBOX_CHANNEL
from shared.desk import MAY_DECIDE, UNCLAIMED
from shared.domain import CommandKind, Status

WORKING = frozenset({Status.RECEIVED, Status.ANALYZING, Status.EXECUTING, Status.ROLLING_BACK})

# Which status may follow which. A working status may also "move" to itself: a nudge or a retry
# that records an event and queues a command without changing where the case is. A step that
# exhausts its retries fails the case wherever it is; a retry continues from the status it failed
# in (or from `received`, to start over).
ALLOWED: Mapping[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.RECEIVED, Status.ANALYZING, Status.FAILED}),
    Status.ANALYZING: frozenset({Status.ANALYZING, Status.AUTO_CLOSED, Status.AWAITING_REVIEW, Status.FAILED}),
    Status.AWAITING_REVIEW: frozenset({Status.EXECUTING, Status.ANALYZING, Status.FAILED}),  # decision, reanalysis
    Status.EXECUTING: frozenset({Status.EXECUTING, Status.CLOSED, Status.FAILED}),
    Status.CLOSED: frozenset({Status.ROLLING_BACK, Status.FAILED}),  # an appeal
    Status.ROLLING_BACK: frozenset({Status.ROLLING_BACK, Status.AWAITING_REVIEW, Status.FAILED}),
    # Final at once, unless a quality review finds it violating: a person then reviews it (shared/quality.py).
    Status.AUTO_CLOSED: frozenset({Status.RECEIVED}),
    Status.FAILED: frozenset(set(Status) - {Status.FAILED, Status.AUTO_CLOSED}),
}

# The read-model columns a move may write besides the status; JSON ones are wrapped for psycopg.
SETTABLE = {"analysis": True, "review": True, "error": True, "review_round": False, "review_attempt": False,
            "actions_refused": False}


def sources_of(to: Status) -> frozenset[Status]:
    """Every status a case may be in to move to `to`."""
    return frozenset(source for source, targets in ALLOWED.items() if to in targets)


@dataclass(frozen=True)
class Moved:
    case_id: uuid.UUID
    from_status: Status
    status: Status
    version: int
    review_round: int
    review_attempt: int


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any]


def move_statement(
    *,
    case_id: uuid.UUID,
    to: Status,
    actor: str,
    event: str,
    expect: Iterable[Status] | None = None,
    round: int | None = None,
    attempt: int | None = None,
    set: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    command: CommandKind | None = None,
    record: "Record | None" = None,
    decider: "Decider | None" = None,
    claimable_by: str | None = None,
    appealable_for: timedelta | None = None,
    wake_relays: bool = True,
) -> Statement:
    """The statement that moves a case to `to` if it is in one of `expect` (default: any status the
    table allows to move there), when given in review `round` and `attempt`, and not claimed by
    anyone but `claimable_by`. It returns one row (see `Moved`) when the case moved and none when it
    was elsewhere. `record` is a decision or appeal written with the move, only if it moved;
    `decider` a reviewer's decision of the review the case is in, checked and recorded by the move
    (see `Decider`): the api's resume is then one statement, read included.

    Appeal windows live here too, so no caller can forget them: a decision executed (`executing` →
    `closed`) opens one of `appealable_for`; an appeal moves a `closed` case only while its window
    is open and it is not final (checked in the statement, under the row lock: an appeal racing the
    scheduler's closing of the window loses or wins as a whole); a case that ends on its own
    (`auto_closed`) is final at once and its graph thread is deleted with the move."""
    allowed = sources_of(to)
    sources = allowed if expect is None else allowed & frozenset(expect)
    if not sources:
        raise ValueError(f"no allowed transition to {to} from {sorted(expect or ())}")
    if to == Status.CLOSED and Status.EXECUTING in sources and appealable_for is None:
        raise ValueError("a decision executed opens an appeal window: give appealable_for")
    columns = tuple(sorted(set or {}))
    unknown = [column for column in columns if column not in SETTABLE]
    if unknown:
        raise ValueError(f"a move cannot write {unknown}")
    params = {
        "case_id": case_id, "to": str(to), "sources": sorted(str(s) for s in sources), "actor": actor,
        "event": event, "data": Jsonb(dict(data or {})), "dedupe_key": dedupe_key,
        "round": round, "attempt": attempt, "command": str(command) if command else None,
        "claimable_by": claimable_by,
        "appealable_for": appealable_for.total_seconds() if appealable_for is not None else None,
    }
    for column in columns:
        value = set[column]
        params[f"set_{column}"] = Jsonb(value) if SETTABLE[column] and value is not None else value
    if record is not None:
        params.update({f"rec_{column}": value for column, value in record.values.items()})
    if decider is not None:
        params.update({"by": decider.name, "role": decider.role, "decision": decider.decision, "note": decider.note})
    sql = _move_sql(columns, round is not None, attempt is not None, command is not None,
                    to == Status.AWAITING_REVIEW, claimable_by is not None, record and record.shape,
                    appealable_for is not None, to == Status.ROLLING_BACK and Status.CLOSED in sources,
                    to == Status.AUTO_CLOSED, wake_relays, decider is not None,
                    to == Status.RECEIVED and Status.AUTO_CLOSED in sources)
    return Statement(sql, params)


@lru_cache(maxsize=64)
def _move_sql(columns: tuple[str, ...], check_round: bool, check_attempt: bool, queue: bool, into_review: bool,
              check_claim: bool, record: tuple[str, tuple[str, ...]] | None, open_window: bool = False,
              check_window: bool = False, final: bool = False, wake_relays: bool = True, decide: bool = False,
              reopen: bool = False) -> str:
    assignments = "".join(f", {column} = %(set_{column})s" for column in columns)
    checks = (" AND c.review_round = %(round)s" if check_round else "") + (
        " AND c.review_attempt = %(attempt)s" if check_attempt else "") + (
        f" AND ({UNCLAIMED} OR c.claimed_by = %(claimable_by)s)"
        if check_claim else "") + (f" AND (old.status <> '{Status.CLOSED}' OR {APPEALABLE})" if check_window else "") + (
        _DECIDING if decide else "")
    # A decision's event says which review it decided: the round and attempt the case was in.
    data = "%(data)s || jsonb_build_object('round', review_round, 'attempt', review_attempt)" if decide else "%(data)s"
    return f"""
    WITH old AS (
        SELECT id, status FROM cases WHERE id = %(case_id)s FOR UPDATE
    ), moved AS (
        UPDATE cases c SET status = %(to)s, version = c.version + 1, updated_at = now(){assignments}{
            _entering_review("analysis" in columns) if into_review else _LEAVING_REVIEW}{
            _OPENING_WINDOW if open_window else ""}{_FINAL if final else ""}{_REOPENED if reopen else ""}
        FROM old WHERE c.id = old.id AND old.status = ANY(%(sources)s){checks}
        RETURNING c.id, old.status AS from_status, c.status, c.version, c.review_round, c.review_attempt, c.tenant
    ), audited AS (
        INSERT INTO audit_events (case_id, actor, event, from_status, to_status, data, dedupe_key)
        SELECT id, %(actor)s, %(event)s, from_status, status, {data}, %(dedupe_key)s FROM moved
        ON CONFLICT (dedupe_key) DO NOTHING
    ){_event(data)}{_QUEUE[wake_relays] if queue else ""}{_record_sql(*record) if record else ""}{
        _DECISION_RECORDED if decide else ""}{threads.ending("moved") if final else ""}
    SELECT id, from_status, status, version, review_round, review_attempt FROM moved"""


# The arguments of `move_statement` that may differ between the moves one `moves_statement` makes
# (the decisions of a group commit); every other argument is the batch's. In the batch, each is a
# column of the posted rows, p_<name>, where the single move's statement has its parameter.
PER_MOVE = {"case_id": "uuid", "to": "text", "actor": "text", "data": "jsonb", "claimable_by": "text",
            "by": "text", "role": "text", "decision": "text", "note": "text"}


def moves_statement(moves: list[Mapping[str, Any]]) -> Statement:
    """Moves of one shape (`move_statement`'s arguments, alike but for `PER_MOVE`'s), each of its
    own case, in one statement: the single move's statement over a row per case, whose row locks
    are taken in case id order. It returns a row (see `Moved`) for each case that moved."""
    statements = [move_statement(**what) for what in moves]
    first = statements[0]
    if any(statement.sql != first.sql or _batch_params(statement) != _batch_params(first)
           for statement in statements[1:]):
        raise ValueError("the moves of one statement differ only in their PER_MOVE arguments")
    if len({statement.params["case_id"] for statement in statements}) < len(statements):
        raise ValueError("a case moves once per statement")
    rows = [{f"p_{name}": _plain(statement.params.get(name)) for name in PER_MOVE}
            | {"p_case_id": str(statement.params["case_id"])} for statement in statements]
    params = {name: value for name, value in first.params.items() if name not in PER_MOVE}
    return Statement(_many_sql(first.sql), params | {"moves": Jsonb(rows)})


def _batch_params(statement: Statement) -> dict[str, Any]:
    """The parameters every move of one `moves_statement` shares, comparable (JSON unwrapped)."""
    return {name: _plain(value) for name, value in statement.params.items() if name not in PER_MOVE}


def _plain(value: Any) -> Any:
    return value.obj if isinstance(value, Jsonb) else value


@lru_cache(maxsize=16)
def _many_sql(one: str) -> str:
    """The single move's statement (`_move_sql`) made to move the cases of the posted rows."""
    columns = ", ".join(f"p_{name} {kind}" for name, kind in PER_MOVE.items())
    edits = {
        "SELECT id, status FROM cases WHERE id = %(case_id)s FOR UPDATE":
            f"SELECT c.id, c.status, p.* FROM jsonb_to_recordset(%(moves)s) AS p({columns})"
            " JOIN cases c ON c.id = p.p_case_id ORDER BY c.id FOR UPDATE OF c",
        "c.review_attempt, c.tenant\n":  # what `moved` returns, for the statements after it
            "c.review_attempt, c.tenant, " + ", ".join(f"old.p_{name}" for name in PER_MOVE if name != "case_id") + "\n",
    }
    many = one
    for before, after in edits.items():
        if many.count(before) != 1:
            raise ValueError(f"the move statement no longer has {before!r} once")
        many = many.replace(before, after)
    for name in PER_MOVE:
        many = many.replace(f"%({name})s", f"p_{name}")
    return many


@dataclass(frozen=True)
class Record:
    """A row the move writes with itself: the decision that moves a case out of review, the appeal
    that reopens it. Their unique keys refuse a second one for the same round."""

    table: str
    values: Mapping[str, Any]

    TABLES = {"decisions": {"round", "attempt", "decision", "note", "decided_by"},
              "appeals": {"round", "reason", "filed_by", "source", "basis", "reference"}}

    def __post_init__(self) -> None:
        if not set(self.values) <= self.TABLES.get(self.table, set()):
            raise ValueError(f"a move cannot record {sorted(self.values)} in {self.table}")

    @property
    def shape(self) -> tuple[str, tuple[str, ...]]:
        return self.table, tuple(sorted(self.values))


@dataclass(frozen=True)
class Decider:
    """A reviewer's decision of the review a case is in, for the move that carries it out: the move
    happens only if the reviewer may decide the case's round (four eyes: `shared.desk.MAY_DECIDE`,
    the rule the queue lists and claims by) and its review allows the decision, and records the
    decision with the round and attempt the case is in, all under the row lock."""

    name: str
    role: str
    decision: str
    note: str | None


_DECIDING = f" AND {MAY_DECIDE} AND c.review -> 'allowed_decisions' ? %(decision)s"
_DECISION_RECORDED = """, decided AS (
        INSERT INTO decisions (id, case_id, round, attempt, decision, note, decided_by)
        SELECT gen_random_uuid(), id, review_round, review_attempt, %(decision)s, %(note)s, %(by)s FROM moved
    )"""


def _record_sql(table: str, columns: tuple[str, ...]) -> str:
    return f""", recorded AS (
        INSERT INTO {table} (id, case_id{"".join(f", {c}" for c in columns)})
        SELECT gen_random_uuid(), id{"".join(f", %(rec_{c})s" for c in columns)} FROM moved
    )"""


def _entering_review(analysis_set: bool) -> str:
    """A case entering review gets the priority and deadline of its severity (`review_targets`,
    written from the REVIEW_TARGETS setting) and no claim."""
    severity = "(%(set_analysis)s::jsonb ->> 'severity')" if analysis_set else "(c.analysis ->> 'severity')"
    return f""",
            priority = coalesce((SELECT priority FROM review_targets WHERE severity = {severity}), 0),
            due_at = now() + coalesce((SELECT target FROM review_targets WHERE severity = {severity}),
                                      interval '24 hours'),
            escalations = 0, escalated_to_supervisors = false, claimed_by = NULL, claim_expires_at = NULL"""


# A case that leaves review is no one's to claim and has no deadline.
_LEAVING_REVIEW = ", due_at = NULL, claimed_by = NULL, claim_expires_at = NULL"


# A closed case may be appealed while this holds (`c` is the case's row). No window recorded (only a
# case arranged by hand: migration 0006 gave the cases closed before windows existed theirs) is open.
APPEALABLE = "(c.final_at IS NULL AND (c.appealable_until IS NULL OR c.appealable_until > now()))"

# A decision executed: appeals are open from now for the window given (DSA Art. 20: six months at
# least), a new one for each round's decision. In seconds: a duration, whatever the time zone's DST.
_OPENING_WINDOW = ", appealable_until = now() + make_interval(secs => %(appealable_for)s)"

# A case that ends on its own can never be appealed: final at once (its thread goes with the move).
_FINAL = ", final_at = now()"
# ... and no longer final when a quality review reopens it (its graph starts again from a new round).
_REOPENED = ", final_at = NULL, appealable_until = NULL"


def _event(data: str) -> str:
    """A change of status (not a working status "moving" to itself) is an event for the subscribers."""
    return events.appended(f"""id, tenant, 'case.' || status, status,
               {data} || jsonb_build_object('round', review_round) FROM moved
        WHERE from_status <> status""")


# Queues the command and wakes the relays when the transaction commits (one NOTIFY per transaction:
# Postgres folds repeats), unless the caller's `Wakeups` says one went out a moment ago (a woken
# relay keeps polling while it finds work). A NOTIFY lost while no relay listens is caught by the
# relay's poll.
_QUEUE = {wake: f""", queued AS (
        INSERT INTO outbox (id, case_id, kind, publish_attempts)
        SELECT gen_random_uuid(), id, %(command)s, 0 FROM moved
        {f"RETURNING pg_notify('{OUTBOX_CHANNEL}', '')" if wake else ""}
    )""" for wake in (True, False)}


@dataclass(frozen=True)
class NewCase:
    case_id: uuid.UUID
    tenant: str
    external_id: str
    content: Mapping[str, Any]
    metadata: Mapping[str, Any]
    actor: str


def create_statement(cases: list[NewCase], *, wake_relays: bool = True) -> Statement:
    """New cases in `received`, each with its audit event and start command, in one statement; a
    case whose tenant already has its external id is left out of the answer (one row per created
    case: `id`). `wake_relays=False` leaves the NOTIFY out (see `Wakeups`): the rows are published
    on the relays' next poll."""
    rows = [{"id": str(case.case_id), "tenant": case.tenant, "external_id": case.external_id,
             "content": case.content, "metadata": case.metadata, "actor": case.actor} for case in cases]
    return Statement(_CREATE_SQL[wake_relays], {"cases": Jsonb(rows), "status": str(Status.RECEIVED),
                                                "command": str(CommandKind.START)})


def _create_sql(wake_relays: bool) -> str:
    notify = f"RETURNING pg_notify('{OUTBOX_CHANNEL}', '')" if wake_relays else ""
    return f"""
    WITH posted AS (
        SELECT * FROM jsonb_to_recordset(%(cases)s)
            AS p(id uuid, tenant text, external_id text, content jsonb, metadata jsonb, actor text)
    ), created AS (
        INSERT INTO cases (id, tenant, external_id, content, metadata, status, review_round, review_attempt,
                           version, created_by)
        SELECT id, tenant, external_id, content, metadata, %(status)s, 1, 0, 1, actor FROM posted
        ON CONFLICT (tenant, external_id) DO NOTHING
        RETURNING id, status, created_by, external_id, tenant
    ), audited AS (
        INSERT INTO audit_events (case_id, actor, event, to_status, data)
        SELECT id, created_by, 'case_received', status, jsonb_build_object('external_id', external_id) FROM created
    ){events.appended("id, tenant, 'case.' || status, status, '{}'::jsonb FROM created")}, queued AS (
        INSERT INTO outbox (id, case_id, kind, publish_attempts)
        SELECT gen_random_uuid(), id, %(command)s, 0 FROM created
        {notify}
    )
    SELECT id FROM created"""


_CREATE_SQL = {wake: _create_sql(wake) for wake in (True, False)}


class Wakeups:
    """When a burst of new cases should NOTIFY the relays. Each notifying commit takes a lock that
    serialises commits in Postgres (measured here: 1,306 commits/s without NOTIFY, 748/s with it),
    so under load one wake-up per `interval` is enough: a woken relay keeps polling every 50 ms
    while it finds work, and polls on its own anyway. A lone case still wakes the relays at once."""

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        self._last = self._before = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval:
            return False
        self._last, self._before = now, self._last
        return True

    def unused(self) -> None:
        """The wake-up `due` just granted went to a command its move refused (nothing was queued, so
        nothing notified): the next command may have it."""
        self._last = self._before


def move(session: Session, **what: Any) -> Moved | None:
    """`move_statement` run in the caller's SQLAlchemy transaction (the worker runs the statement in its own
    pipelined batch, see `services/worker/turn.py`)."""
    statement = move_statement(**what)
    row = session.connection().exec_driver_sql(statement.sql, statement.params).first()
    return moved(row)


async def move_async(conn: Any, **what: Any) -> Moved | None:
    """`move_statement` run on an async psycopg connection, in its transaction (the api)."""
    statement = move_statement(**what)
    cursor = await conn.execute(statement.sql, statement.params)
    return moved(await cursor.fetchone())


def moved(row: Any) -> Moved | None:
    """What a move statement's row says; None when it returned none (the case was elsewhere)."""
    if row is None:
        return None
    values = tuple(row.values()) if isinstance(row, Mapping) else tuple(row)
    case_id, from_status, status, version, review_round, review_attempt = values
    return Moved(case_id, Status(from_status), Status(status), version, review_round, review_attempt)
