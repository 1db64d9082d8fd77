"""The dispatcher over the real database, delivering to real HTTP subscribers: in-process
subscribers (tests/support/subscriber.py) and in-process dispatchers on threads of their own,
with short timeouts and backoffs."""

import asyncio
import threading
import uuid

import pytest
from psycopg.types.json import Jsonb

from shared import events
from shared.db import transaction
from shared.models import Webhook
from services.dispatcher.main import serve
from tests.support.arrange import post_case
from tests.support.subscriber import Subscriber

SECRET = "a-secret-of-thirty-two-characters"


@pytest.fixture
def fast(settings):
    """Settings for dispatching in tests: backoff of 50..200 ms, three attempts, quick polls."""
    return settings.model_copy(update={"webhook_timeout": 2.0, "webhook_backoff_base": 0.05,
                                       "webhook_backoff_max": 0.2, "webhook_max_attempts": 3,
                                       "dispatcher_poll_interval": 0.05, "db_pool_size": 4})


class RunningDispatcher:
    """`vigil dispatcher`'s loop on a thread of its own, stopped as SIGTERM would."""

    def __init__(self, settings) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        await serve(self._settings, stopping=self._stopping)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(30)


@pytest.fixture
def dispatcher(fast):
    """dispatcher(settings=None) starts one; all are stopped after the test."""
    running: list[RunningDispatcher] = []

    def start(settings=None) -> RunningDispatcher:
        running.append(RunningDispatcher(settings or fast))
        return running[-1]

    yield start
    for one in running:
        one.stop()


@pytest.fixture
def subscriber():
    """subscriber() starts a real HTTP subscriber; all are stopped after the test."""
    started: list[Subscriber] = []

    def start() -> Subscriber:
        started.append(Subscriber().start())
        return started[-1]

    yield start
    for one in started:
        one.stop()


def subscribe(sessions, url: str, *, events_: list[str] | None = None, kind: str = "events",
              secret: str = SECRET) -> uuid.UUID:
    with transaction(sessions) as session:
        hook = Webhook(id=uuid.uuid4(), url=url, events=events_ or ["*"], secret=secret, kind=kind, created_by="admin")
        session.add(hook)
        session.flush()
        return hook.id


def new_case(sessions) -> uuid.UUID:
    case_id, _ = post_case(sessions, text="some words")
    return case_id


def emit(engine, case_id: uuid.UUID, *, count: int = 1, type: str = events.ACTION_EXECUTED,
         data: dict | None = None) -> None:
    """`count` events of the case as the worker's ledger writes them, one transaction each."""
    for n in range(count):
        with engine.begin() as conn:
            conn.connection.driver_connection.execute(events.EMIT, {
                "case_id": case_id, "type": type, "data": Jsonb(data or {"n": n}),
                "dedupe_key": f"test:{uuid.uuid4()}"})
