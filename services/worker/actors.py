"""The Dramatiq actors: one per command kind, each a thin door into the case runner."""

from collections.abc import Callable

import dramatiq
from dramatiq.middleware import CurrentMessage

from shared.contracts import ACTOR_NAMES
from shared.domain import CommandKind
from services.worker.runner import CaseRunner


UNCOUNTED_RETRIES = 10_000


def declare_actors(*, broker: dramatiq.Broker, runner: CaseRunner, queue_name: str) -> list[dramatiq.Actor]:
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
            # The runner counts attempts in Postgres and fails the case itself once they run out.
            # What Dramatiq retries beyond that are deliveries that could not even be counted
            # (Postgres away, the case locked too long): giving up on those would lose the case.
            max_retries=UNCOUNTED_RETRIES,
            min_backoff=200,
            max_backoff=30_000,
        )
        for kind, name in ACTOR_NAMES.items()
    ]
