import random

import pytest
from sqlalchemy import text

from shared import quality
from services.worker.main import build_runner


@pytest.fixture
def runner_with(settings, fresh_platform):
    """A worker's runner in this process with some settings changed (sampling rates, model cache)."""
    made = []

    def build(**changed):
        runner, closers = build_runner(settings.model_copy(update={"model_cache_seconds": 0, **changed}), threads=1)
        made.extend(closers)
        return runner

    yield build
    for close in made:
        close()


@pytest.fixture
def seeded_draws(monkeypatch):
    """The sampling draw from a seeded generator: a test's samples are the same every run."""
    monkeypatch.setattr(quality, "_DRAW", random.Random(20261207))


def deliver(runner, sessions, case_id) -> None:
    """The case's latest command, handled by the runner."""
    with sessions() as session:
        message_id, kind = session.execute(text("SELECT id, kind FROM outbox WHERE case_id = :c ORDER BY seq DESC LIMIT 1"),
                                           {"c": case_id}).one()
    runner.handle(case_id=str(case_id), message_id=str(message_id), kind=kind)


def samples(sessions, **where) -> list[dict]:
    clause = " AND ".join(f"{column} = :{column}" for column in where) or "true"
    with sessions() as session:
        return [dict(row._mapping) for row in session.execute(text(f"SELECT * FROM qa_samples WHERE {clause}"), where)]
