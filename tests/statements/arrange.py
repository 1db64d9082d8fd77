"""Cases received the way the api's intake records them (the one writer's `create`: the case, its
`case_received` audit event and its start command), with the upstream's metadata."""

import uuid

from shared import transitions
from shared.db import transaction
from shared.domain import CommandKind

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"
SPAM = ("BUY NOW!!! Cheap followers and crypto signals, 1000% guaranteed profit. Click here: "
        "http://quick-rich.example/offer http://quick-rich.example/vip http://quick-rich.example/join")
CLEAN = "Lovely weather at the lake today, we had a picnic with the kids."


def receive(sessions, *, text: str, author_id: str = "u-1", tenant: str = "upstream", metadata: dict | None = None,
            external_id: str | None = None) -> tuple[uuid.UUID, uuid.UUID]:
    """The case id and its start message id."""
    case = transitions.NewCase(case_id=uuid.uuid4(), tenant=tenant, actor=tenant, metadata=metadata or {},
                               external_id=external_id or f"post-{uuid.uuid4().hex[:8]}",
                               content={"text": text, "author_id": author_id})
    with transaction(sessions) as session:
        statement = transitions.create_statement([case], wake_relays=False)
        assert session.connection().exec_driver_sql(statement.sql, statement.params).first() is not None
        message = session.connection().exec_driver_sql(
            "SELECT id FROM outbox WHERE case_id = %(c)s", {"c": case.case_id}).scalar()
    return case.case_id, message


def run(runner, case_id, message_id, kind: CommandKind) -> None:
    runner.handle(case_id=str(case_id), message_id=str(message_id), kind=kind)
