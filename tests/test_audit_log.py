"""The audit log is append-only: the database itself refuses to change or delete a record."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from psycopg.types.json import Jsonb

from shared import audit
from shared.db import transaction
from tests.support.arrange import post_case


def record(session, *, case_id, actor: str, event: str, dedupe_key: str | None = None) -> None:
    """An event appended as the worker appends one (`shared.audit.RECORD`)."""
    session.connection().exec_driver_sql(audit.RECORD, (case_id, actor, event, Jsonb({}), dedupe_key))


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"])
def test_recorded_events_cannot_be_changed_or_deleted(sessions, statement):
    case_id, _ = post_case(sessions, text="hello")
    with transaction(sessions) as session:
        record(session, case_id=case_id, actor="mod-ana", event="decision_made")
    with pytest.raises(DBAPIError, match="append-only"):
        with transaction(sessions) as session:
            session.execute(text(statement))
    with sessions() as session:
        assert session.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["mod-ana"]


def test_an_event_with_a_dedupe_key_is_recorded_once(sessions):
    case_id, _ = post_case(sessions, text="hello")
    for _ in range(2):  # a worker step that ran again after a crash
        with transaction(sessions) as session:
            record(session, case_id=case_id, actor="system:worker", event="closed", dedupe_key=f"{case_id}:closed")
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
