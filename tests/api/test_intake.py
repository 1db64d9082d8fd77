"""Group commit of new cases: concurrent posts share commits, each is committed before its 202,
and a case the database refuses fails alone."""

import asyncio
import concurrent.futures
import uuid

import psycopg
import pytest
from sqlalchemy import func, select

from shared.models import AuditEvent, Case, OutboxMessage
from shared.transitions import NewCase, Wakeups
from services.api.db import make_pool
from services.api.commits import Intake


def posted_together(settings, cases: list[NewCase]) -> list:
    """What an intake of its own answers each of `cases`, posted at once (an exception where one failed)."""
    async def post() -> list:
        pool = make_pool(settings)
        await pool.open()
        try:
            intake = Intake(pool=pool, wakeups=Wakeups(interval=1.0))
            return await asyncio.gather(*(intake.create(one) for one in cases), return_exceptions=True)
        finally:
            await pool.close()

    return asyncio.run(post())


def test_every_accepted_case_is_committed_with_its_audit_event_and_outbox_row(client, sessions):
    def post(n: int) -> str:
        answer = client.post("/v1/cases", json={"external_id": f"burst-{n}", "content": {"text": "hi", "author_id": "u"}},
                             headers=client.as_("upstream"))
        assert answer.status_code == 202
        with sessions() as session:  # visible to anyone the moment the 202 is out
            assert session.get(Case, answer.json()["case_id"]) is not None
        return answer.json()["case_id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(post, range(80)))
    assert len(set(ids)) == 80
    with sessions() as session:
        for model in (Case, AuditEvent, OutboxMessage):
            assert session.scalar(select(func.count()).select_from(model)) == 80


def test_a_case_the_database_refuses_fails_alone(settings, sessions):
    def case(text: str) -> NewCase:
        return NewCase(case_id=uuid.uuid4(), tenant="t", external_id=uuid.uuid4().hex,
                       content={"text": text, "author_id": "u"}, metadata={}, actor="upstream")

    good, bad = [case(f"fine {n}") for n in range(5)], case("NUL \x00 is not storable")
    results = posted_together(settings, [*good[:2], bad, *good[2:]])
    assert results[:2] + results[3:] == [True] * 5
    assert isinstance(results[2], psycopg.DataError)
    with sessions() as session:
        stored = set(session.scalars(select(Case.id)).all())
    assert stored == {one.case_id for one in good}


@pytest.mark.parametrize("repeat", [1, 3])
def test_the_same_external_id_twice_in_one_commit_makes_one_case(settings, sessions, repeat):
    same = [NewCase(case_id=uuid.uuid4(), tenant="t", external_id="dup", content={"text": "x", "author_id": "u"},
                    metadata={}, actor="upstream") for _ in range(1 + repeat)]
    assert sorted(posted_together(settings, same)) == [False] * repeat + [True]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
