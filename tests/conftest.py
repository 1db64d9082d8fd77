"""Fixtures over the real services: a test database on the local Postgres, a queue of its own on
the local RabbitMQ, and the demo platform as a real process."""

import os
import uuid

import httpx
import pika
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from shared import secretbox, signing
from shared.db import make_engine, make_sessionmaker, transaction
from shared.domain import Role, Status
from shared.keys import create_key
from shared.models import Appeal, AuditEvent, Case, DecisionRecord, OutboxMessage
from services.api.app import create_app
from services.worker.main import build_runner
from services.worker.review import review_payload
from shared.migrate import migrate
from shared.settings import Settings
from tests.support.processes import Process, free_port, settings_env, wait_http

TEST_DATABASE_URL = os.environ.get("VIGIL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/vigil_test")
TABLES = "cases, api_keys, webhooks, platform_connections, qa_samples, model_assignments, analyser_models, checkpoints, checkpoint_writes, checkpoint_blobs"


def _recreate_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PLATFORM_PORT = free_port()
PLATFORM_SECRET = "platform-secret-of-the-test-run"
SECRET_KEY = secretbox.new_key()  # seals the connections' secrets in this run


def test_settings() -> Settings:
    """The settings of this test run: its own database, queue and platform port."""
    return Settings(
        database_url=TEST_DATABASE_URL,
        platform_url=f"http://127.0.0.1:{PLATFORM_PORT}",
        platform_secret=PLATFORM_SECRET,  # the platform fixture checks every action call's signature with it
        secret_keys=SECRET_KEY,
        queue_name=f"vigil-test-{os.getpid()}",
        platform_retries=3,
        platform_retry_wait=0.05,
        step_max_attempts=3,
        groq_api_key=None,  # the hosted model is out of reach here, whatever the shell says
        relay_metrics_port=0,  # tests run several relays and workers at once: no fixed ports
        worker_metrics_port=0,
        scheduler_metrics_port=0,
        dispatcher_metrics_port=0,
        _env_file=None,
    )


test_settings.__test__ = False  # a factory, not a test


@pytest.fixture(scope="session")
def settings() -> Settings:
    settings = test_settings()
    _recreate_database(settings.database_url)
    migrate(settings)
    yield settings
    _delete_queues(settings)


def _delete_queues(settings: Settings) -> None:
    """The run's queue and Dramatiq's delay and dead-letter queues beside it."""
    with pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url)) as connection:
        channel = connection.channel()
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(settings.queue_name + suffix)


@pytest.fixture(scope="session")
def engine(settings: Settings):
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine):
    return make_sessionmaker(engine)


@pytest.fixture(autouse=True)
def clean_database(request: pytest.FixtureRequest):
    """Every test starts from empty tables (TRUNCATE does not fire the audit log's row trigger)."""
    if "settings" not in request.fixturenames and "engine" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("engine")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    yield


@pytest.fixture
def keys(sessions) -> dict[str, str]:
    """One key per person: two moderators, two supervisors, an upstream system, an admin and a QA reviewer."""
    people = {
        "upstream": Role.UPSTREAM,
        "mod-ana": Role.MODERATOR,
        "mod-ben": Role.MODERATOR,
        "sup-cy": Role.SUPERVISOR,
        "sup-dee": Role.SUPERVISOR,
        "admin": Role.ADMIN,
        "qa-quinn": Role.QA,
    }
    with transaction(sessions) as session:
        return {name: create_key(session, role=role, name=name) for name, role in people.items()}


@pytest.fixture(scope="session")
def platform(settings: Settings):
    """The demo platform as its own process; the yielded client talks to it over HTTP."""
    port = int(settings.platform_url.rsplit(":", 1)[1])
    process = Process("platform", ["demo-platform", "--port", str(port)], settings_env(settings))
    try:
        wait_http(f"{settings.platform_url}/calls", process)
        # The client signs what it sends as Vigil does, so a test may call an action endpoint itself.
        with httpx.Client(base_url=settings.platform_url, timeout=5, event_hooks={"request": [sign_as_vigil]}) as client:
            client.post("/_admin/platform-secret", json={"secret": PLATFORM_SECRET}).raise_for_status()
            yield client
    finally:
        process.stop()


def sign_as_vigil(request: httpx.Request) -> None:
    """Signs a request the test has not signed itself (a callback test signs with its own secret)."""
    if signing.SIGNATURE_HEADER not in request.headers:
        request.headers.update(signing.sign(secret=PLATFORM_SECRET, body=request.read()))


@pytest.fixture
def fresh_platform(platform: httpx.Client) -> httpx.Client:
    platform.post("/_admin/reset").raise_for_status()
    return platform


@pytest.fixture
def case_in(sessions):
    """Arranges a case in a given state, as the worker would have left it (no worker runs here)."""

    def arrange(status: Status, *, round: int = 1, attempt: int = 0, decided_by: str = "mod-ana", error: dict | None = None):
        case_id = uuid.uuid4()
        content = {"text": "some words", "author_id": "u-1"}
        analysis = {"category": "abuse", "severity": "medium", "needs_review": True, "triggers": [], "reasons": []}
        review = review_payload(case_id=str(case_id), round=round, attempt=attempt, content=content,
                                analysis=analysis, reanalyze_limit=2)
        with transaction(sessions) as session:
            session.add(Case(id=case_id, tenant="upstream", external_id=f"arranged-{case_id.hex[:8]}", content=content, meta={},
                             status=status, review_round=round, review_attempt=attempt, analysis=analysis,
                             review=review if status == Status.AWAITING_REVIEW else None, error=error,
                             created_by="upstream"))
            session.flush()
            for earlier in range(1, round):
                session.add(DecisionRecord(case_id=case_id, round=earlier, attempt=0, decision="remove",
                                           decided_by=decided_by))
                session.add(Appeal(case_id=case_id, round=earlier, reason="appeal", filed_by="sup-cy"))
        return str(case_id)

    return arrange


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


@pytest.fixture
def runner(settings, fresh_platform):
    """A worker's case runner, in this process, over the real database and demo platform."""
    runner, closers = build_runner(settings, threads=1)
    yield runner
    for close in closers:
        close()
