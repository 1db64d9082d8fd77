import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shared.models import Appeal, AuditEvent, Case, DecisionRecord, OutboxMessage
from services.api.app import create_app


@pytest.fixture(scope="module")
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app, keys):
    """A client of the app over the real database; `client.as_("mod-ana")` gives that person's headers."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.as_ = lambda name: {"X-API-Key": keys[name]}
        yield test_client


@pytest.fixture
def rows(sessions):
    """How many rows each command table holds: a rejected request must leave these unchanged."""

    def count() -> dict[str, int]:
        with sessions() as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    for model in (Case, OutboxMessage, AuditEvent, DecisionRecord, Appeal)}

    return count
