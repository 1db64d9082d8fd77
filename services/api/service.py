"""The service layer: each command checks the case's state, moves it through the one writer
(`shared.transitions`) with its audit event and outbox row, and records the decision or appeal,
all in one transaction. Reads are one query each."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timezone
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg_pool import AsyncConnectionPool

from shared import transitions
from shared.domain import SUPERVISOR_APPEAL, CommandKind, Decision, Role, Status
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from services.api.auth import Principal
from services.api.commits import Decisions, Intake
from services.api.reads import may_see
from services.api.schemas import CaseCreate, ComplaintRequest, ResumeRequest, RollbackRequest


async def create_case(intake: Intake, pool: AsyncConnectionPool, *, data: CaseCreate, by: Principal,
                      max_text_chars: int) -> tuple[uuid.UUID, Status, bool]:
    """The case id, its status and whether it is new. The same external id from the same tenant
    with the same content is the same case; with other content it is a conflict."""
    if len(data.content.text) > max_text_chars:
        raise Invalid(f"content.text has {len(data.content.text)} characters; at most {max_text_chars} are accepted")
    content = data.content.model_dump()
    case = transitions.NewCase(case_id=uuid.uuid4(), tenant=by.tenant, external_id=data.external_id,
                               content=content, metadata=data.metadata, actor=by.name)
    if await intake.create(case):
        return case.case_id, Status.RECEIVED, True
    async with pool.connection() as conn:
        earlier = await (await conn.execute(
            "SELECT id, status, content, metadata FROM cases WHERE tenant = %s AND external_id = %s",
            (by.tenant, data.external_id))).fetchone()
    if earlier is None:  # created and deleted meanwhile: cannot happen while cases are kept
        raise Conflict(f"external_id {data.external_id!r} is being posted concurrently; try again")
    if (earlier["content"], earlier["metadata"]) != (content, data.metadata):
        raise Conflict(f"external_id {data.external_id!r} was posted before with other content "
                       f"(case {earlier['id']}); post the change under a new external_id")
    return earlier["id"], Status(earlier["status"]), False


async def resume_case(pool: AsyncConnectionPool, decisions: Decisions, *, case_id: uuid.UUID, data: ResumeRequest,
                      by: Principal) -> Status:
    # One conditional statement checks and moves: of concurrent decisions exactly one moves the case
    # (in review, no one else's claim, a round this reviewer may decide, a decision its review
    # allows), and only it is recorded. It is group-committed with the decisions taken meanwhile. A
    # refusal reads the case to say why.
    reanalyze = data.decision == Decision.REANALYZE
    missing_note = reanalyze and not (data.note or "").strip()  # refused below, after the case's own checks
    if not missing_note:
        with _decided_once():
            moved = await decisions.move(
                case_id=case_id, to=Status.ANALYZING if reanalyze else Status.EXECUTING, actor=by.name,
                event="decision_made", expect=[Status.AWAITING_REVIEW], claimable_by=by.name, set={"review": None},
                command=CommandKind.RESUME, decider=transitions.Decider(by.name, str(by.role), str(data.decision), data.note),
                data={"decision": data.decision, "note": data.note})
        if moved is not None:
            return moved.status
    async with pool.connection() as conn:
        await _refuse_decision(conn, case=await _case(conn, case_id), data=data, by=by)
    raise Conflict(f"case {case_id} changed meanwhile; read it again")


async def _refuse_decision(conn: AsyncConnection, *, case: dict, data: ResumeRequest, by: Principal) -> None:
    """Why `data` cannot decide `case` now, as the error that says it."""
    if case["status"] != Status.AWAITING_REVIEW:
        raise Conflict(f"case is {case['status']}, not awaiting_review")
    if case["claim_holder"] not in (None, by.name):
        raise Conflict(f"{case['claim_holder']} has claimed this case; a decision is theirs until the claim "
                       f"is released or expires")
    await _check_reviewer(conn, case=case, by=by)
    allowed = (case["review"] or {}).get("allowed_decisions", [])
    if data.decision not in allowed:
        raise Invalid(f"decision {data.decision} is not allowed now; allowed: {', '.join(allowed)}")
    if data.decision == Decision.REANALYZE and not (data.note or "").strip():
        raise Invalid("reanalyze needs a note: it is the feedback for the analyser")


async def rollback_case(conn: AsyncConnection, *, case_id: uuid.UUID, data: RollbackRequest, by: Principal,
                        max_appeals: int, wakeups: transitions.Wakeups | None = None) -> Status:
    """A supervisor's appeal of the case's decision."""
    return await _appeal(conn, case=await _case(conn, case_id), by=by, max_appeals=max_appeals, wakeups=wakeups,
                         reason=data.reason, source=SUPERVISOR_APPEAL)


async def file_complaint(conn: AsyncConnection, *, case_id: uuid.UUID, data: ComplaintRequest, by: Principal,
                         max_appeals: int, wakeups: transitions.Wakeups | None = None) -> tuple[Status, bool]:
    """A complaint the platform forwards (DSA Art. 20): an appeal of the case with its source, and
    whether it was filed now (False: the platform had sent this reference before)."""
    case = await _case(conn, case_id)
    if not may_see(by, case["tenant"]):
        raise NotFound(f"no case {case_id}")
    filed = await (await conn.execute("SELECT 1 FROM appeals WHERE case_id = %s AND reference = %s",
                                      (case_id, data.reference))).fetchone()
    if filed is not None:
        return Status(case["status"]), False
    status = await _appeal(conn, case=case, by=by, max_appeals=max_appeals, wakeups=wakeups, reason=data.text,
                           source=data.complainant, basis=data.basis, reference=data.reference)
    return status, True


async def _appeal(conn: AsyncConnection, *, case: dict, by: Principal, max_appeals: int,
                  wakeups: transitions.Wakeups | None, reason: str, source: str, basis: str | None = None,
                  reference: str | None = None) -> Status:
    """The appeal of `case` (as `_case` read it), by a supervisor or for a complainant."""
    case_id = case["id"]
    if case["status"] != Status.CLOSED:
        raise Conflict(f"only a closed case can be appealed; this one is {case['status']}")
    if not case["appealable"]:
        raise Conflict(_window_closed(case))
    if case["appeals"] >= max_appeals:
        raise Conflict(f"this case was appealed {case['appeals']} time(s); at most {max_appeals} appeal(s) per case")
    round = case["review_round"]
    said = {"source": source} | ({"basis": basis, "reference": reference} if source != SUPERVISOR_APPEAL else {})
    try:
        # The one writer checks the window again in the move itself: the check above may be stale.
        await _move(conn, wakeups, case_id=case_id, to=Status.ROLLING_BACK, actor=by.name, event="appeal_filed",
                    expect=[Status.CLOSED], round=round, command=CommandKind.ROLLBACK,
                    record=transitions.Record("appeals", {"round": round, "reason": reason, "filed_by": by.name,
                                                          "source": source, "basis": basis, "reference": reference}),
                    data={"reason": reason, "round": round} | said)
    except Conflict:
        case = await _case(conn, case_id)
        if case["status"] == Status.CLOSED and not case["appealable"]:
            raise Conflict(_window_closed(case)) from None
        raise
    return Status.ROLLING_BACK


def _window_closed(case: dict) -> str:
    closed_on = min(moment for moment in (case["appealable_until"], case["final_at"]) if moment is not None)
    return (f"the appeal window closed on {closed_on.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC; "
            f"the decision is final and can no longer be appealed")


async def retry_case(conn: AsyncConnection, *, case_id: uuid.UUID | str, actor: str) -> Status:
    """Put a failed case back on its way from its last checkpoint (also `vigil cases retry`)."""
    case_id = _as_uuid(case_id)
    case = await _case(conn, case_id)
    if case["status"] != Status.FAILED:
        raise Conflict(f"only a failed case can be retried; this one is {case['status']}")
    back_to = _status_before_failure(case["error"])
    await _move(conn, None, case_id=case_id, to=back_to, actor=actor, event="retry_requested", expect=[Status.FAILED],
                set={"error": None}, command=CommandKind.RETRY, data={"error": case["error"]})
    return back_to


async def _move(conn: AsyncConnection, wakeups: transitions.Wakeups | None, **what: Any) -> None:
    """The move, or a Conflict when the case was not where the command expects it."""
    if await _try_move(conn, wakeups, **what) is None:
        raise Conflict(f"case {what['case_id']} changed meanwhile; it is no longer {what['expect'][0]}")


async def _try_move(conn: AsyncConnection, wakeups: transitions.Wakeups | None, **what: Any) -> transitions.Moved | None:
    """The move (None when refused), waking the relays unless `wakeups` says one went out a moment
    ago; a refused command uses up no wake-up."""
    wake = wakeups is None or wakeups.due()
    moved = None
    try:
        with _decided_once():
            moved = await transitions.move_async(conn, wake_relays=wake, **what)
    finally:
        if moved is None and wake and wakeups is not None:
            wakeups.unused()
    return moved


@contextmanager
def _decided_once() -> Iterator[None]:
    """A move refused by a unique (case, round[, attempt]) key (a state check slipped) as a Conflict."""
    try:
        yield
    except UniqueViolation:
        raise Conflict("this review round is already decided") from None


def _as_uuid(case_id: uuid.UUID | str) -> uuid.UUID:
    # The command line passes what the operator typed: a typo is an unknown case, not a crash.
    try:
        return case_id if isinstance(case_id, uuid.UUID) else uuid.UUID(str(case_id))
    except ValueError:
        raise NotFound(f"no case {case_id!r}: a case id is a UUID") from None


def _status_before_failure(error: dict | None) -> Status:
    """The worker records the status it failed in; an error without a usable one starts over."""
    recorded = (error or {}).get("status")
    if isinstance(recorded, str) and recorded in set(Status) - {Status.FAILED}:
        return Status(recorded)
    return Status.RECEIVED


async def _case(conn: AsyncConnection, case_id: uuid.UUID) -> dict:
    case = await (await conn.execute(
        "SELECT c.id, c.tenant, c.status, c.review_round, c.review_attempt, c.review, c.error, c.escalated_to_supervisors,"
        " CASE WHEN c.claim_expires_at > now() THEN c.claimed_by END AS claim_holder,"
        f" c.appealable_until, c.final_at, {transitions.APPEALABLE} AS appealable,"
        " (SELECT count(*) FROM appeals WHERE case_id = c.id) AS appeals"
        " FROM cases c WHERE c.id = %s",
        (case_id,))).fetchone()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


async def _check_reviewer(conn: AsyncConnection, *, case: dict, by: Principal) -> None:
    """Four eyes: round 1 is a moderator's (a supervisor's once escalated to them); a later round is
    a supervisor's who neither made the decision under appeal nor filed the appeal, or, when a
    complaint opened it, a moderator's or supervisor's who decided no earlier round. The same rule,
    for listing and claiming, is `shared.desk.MAY_DECIDE`."""
    round = case["review_round"]
    if round == 1 and case["escalated_to_supervisors"]:
        if by.role != Role.SUPERVISOR:
            raise Forbidden("this case was escalated to the supervisors: a supervisor decides it")
        return
    if round == 1:
        if by.role != Role.MODERATOR:
            raise Forbidden("a moderator decides the first review round")
        return
    involved = await (await conn.execute("""
        SELECT (SELECT decided_by FROM decisions WHERE case_id = %(id)s AND round = %(round)s AND decision <> 'reanalyze'
                ORDER BY attempt DESC LIMIT 1) AS decided_by,
               a.filed_by, a.source,
               EXISTS (SELECT 1 FROM qa_samples WHERE case_id = %(id)s AND round = %(round)s AND reopened) AS qa_reopened,
               EXISTS (SELECT 1 FROM decisions WHERE case_id = %(id)s AND round <= %(round)s
                       AND decision <> 'reanalyze' AND decided_by = %(by)s) AS decided_before
        FROM (SELECT 1) AS one LEFT JOIN appeals a ON a.case_id = %(id)s AND a.round = %(round)s""",
        {"id": case["id"], "round": round - 1, "by": by.name})).fetchone()
    if involved["source"] not in (None, SUPERVISOR_APPEAL) or involved["qa_reopened"]:
        opened_by = "a quality review" if involved["qa_reopened"] else "a complaint"
        if by.role not in (Role.MODERATOR, Role.SUPERVISOR):
            raise Forbidden(f"a reviewer decides review round {round} ({opened_by})")
        if involved["decided_before"]:
            raise Forbidden(f"you decided this case before; a reviewer new to it decides what {opened_by} reopened")
        return
    if by.role != Role.SUPERVISOR:
        raise Forbidden(f"a supervisor decides review round {round} (an appeal)")
    if by.name == involved["decided_by"]:
        raise Forbidden("the decision under appeal was yours; another supervisor must decide this round")
    if by.name == involved["filed_by"]:
        raise Forbidden("you filed this appeal; another supervisor must decide it")
