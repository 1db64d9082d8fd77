"""The events outbox: each change of a case and each platform action becomes one event, fanned out
in the change's transaction to the subscribers whose filters match it."""

import uuid

from sqlalchemy import text

from shared import transitions
from shared.db import transaction
from shared.domain import CommandKind, Status
from shared.models import Webhook
from tests.support.arrange import appeal, decide, post_case

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"


def subscribe(sessions, *, events: list[str], tenant: str | None = None) -> uuid.UUID:
    with transaction(sessions) as session:
        hook = Webhook(url="http://127.0.0.1:9/hook", events=events, secret="s3cret", tenant=tenant, created_by="admin")
        session.add(hook)
        session.flush()
        return hook.id


def case_events(engine, case_id) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            text("SELECT type, status FROM case_events WHERE case_id = :c ORDER BY seq"), {"c": case_id})]


def delivered_types(engine, hook_id) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("""
            SELECT e.type FROM webhook_deliveries d JOIN case_events e ON e.id = d.event_id
            WHERE d.webhook_id = :w ORDER BY d.event_seq"""), {"w": hook_id}).scalars())


def test_every_change_and_action_is_one_event_in_order(runner, sessions, engine, client):
    everything = subscribe(sessions, events=["*"])
    actions_only = subscribe(sessions, events=["action.*"])
    closings = subscribe(sessions, events=["case.closed"])
    other_tenant = subscribe(sessions, events=["*"], tenant="another-platform")

    created = client.post("/v1/cases", headers=client.as_("upstream"), json={
        "external_id": "post-1", "content": {"text": ABUSIVE, "author_id": "troll"}})
    case_id = uuid.UUID(created.json()["case_id"])
    with engine.connect() as conn:
        start = conn.execute(text("SELECT id FROM outbox WHERE case_id = :c"), {"c": case_id}).scalar()
    runner.handle(case_id=str(case_id), message_id=str(start), kind=CommandKind.START)
    runner.handle(case_id=str(case_id), message_id=str(decide(sessions, case_id, "remove", by="mod-ana")),
                  kind=CommandKind.RESUME)
    runner.handle(case_id=str(case_id), message_id=str(appeal(sessions, case_id, by="sup-cy")),
                  kind=CommandKind.ROLLBACK)

    runner.handle(case_id=str(case_id), message_id=str(decide(sessions, case_id, "dismiss", by="sup-dee")),
                  kind=CommandKind.RESUME)

    assert case_events(engine, case_id) == [
        ("case.received", "received"), ("case.analyzing", "analyzing"),
        ("case.awaiting_review", "awaiting_review"), ("case.executing", "executing"),
        ("action.executed", "executing"), ("case.closed", "closed"), ("statement.issued", "closed"),
        ("case.rolling_back", "rolling_back"), ("action.reversed", "rolling_back"),
        ("case.awaiting_review", "awaiting_review"), ("case.executing", "executing"),
        ("case.closed", "closed"), ("statement.reversed", "closed")]
    with engine.connect() as conn:
        numbered = conn.execute(text("SELECT case_seq, type, data FROM case_events WHERE case_id = :c ORDER BY seq"),
                                {"c": case_id}).all()
    assert [seq for seq, _, _ in numbered] == list(range(1, 14))  # 1, 2, 3… per case, in commit order
    first, second = [data for _, type, data in numbered if type == "case.closed"]
    assert first == {"round": 1, "attempt": 0, "decision": "remove", "statement_puid": "upstream__post-1__r1",
                     "actions": [{"kind": "remove", "target_id": "post-1", "status": "confirmed"}]}
    assert second == {"round": 2, "attempt": 0, "decision": "dismiss", "statement_puid": None, "actions": []}
    assert delivered_types(engine, everything) == [type for type, _ in case_events(engine, case_id)]
    assert delivered_types(engine, actions_only) == ["action.executed", "action.reversed"]
    assert delivered_types(engine, closings) == ["case.closed", "case.closed"]
    assert delivered_types(engine, other_tenant) == []  # another upstream's subscriber hears nothing of it


def test_a_move_that_does_not_happen_emits_nothing(sessions, engine):
    subscribe(sessions, events=["*"])
    case_id, _ = post_case(sessions, text="hello")
    with transaction(sessions) as session:  # a decision on a case not in review is refused
        assert transitions.move(session, case_id=case_id, to=Status.EXECUTING, actor="mod-ana",
                                event="decision_made", expect=[Status.AWAITING_REVIEW]) is None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_events")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar() == 0
