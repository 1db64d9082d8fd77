"""The Dramatiq actors: one per command kind, each a thin door into the case runner."""

from collections.abc import Callable

import dramatiq
from dramatiq.middleware import CurrentMessage

from shared.contracts import ACTOR_NAMES
from shared.domain import CommandKind
from services.worker.runner import CaseRunner


def declare_actors(*, broker: dramatiq.Broker, runner: CaseRunner, queue_name: str, max_attempts: int) -> list[dramatiq.Actor]:
    broker.add_middleware(CurrentMessage())

    def door(kind: CommandKind) -> Callable[[str], None]:
        def handle(case_id: str) -> None:
            message = CurrentMessage.get_current_message()
            runner.handle(case_id=case_id, message_id=message.message_id, kind=kind)

        handle.__name__ = ACTOR_NAMES[kind]
        return handle

    return [
        dramatiq.actor(
            door(kind),
            actor_name=name,
            queue_name=queue_name,
            broker=broker,
            # The runner counts attempts in Postgres and fails the case itself; Dramatiq's own
            # limit is only a backstop above it.
            max_retries=max_attempts + 3,
            min_backoff=200,
            max_backoff=10_000,
        )
        for kind, name in ACTOR_NAMES.items()
    ]
