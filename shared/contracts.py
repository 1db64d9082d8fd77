"""The message contract between the outbox, the relay and the worker.

A message carries ids, not documents: the case id, and as message id the outbox row's id.
Every command kind has its own actor, so queues and logs say what a message is for.
"""

import uuid

import dramatiq

from shared.domain import CommandKind

ACTOR_NAMES: dict[CommandKind, str] = {
    CommandKind.START: "start_case",
    CommandKind.RESUME: "resume_case",
    CommandKind.ROLLBACK: "rollback_case",
    CommandKind.RETRY: "retry_case",
}


def command_message(*, message_id: uuid.UUID, case_id: uuid.UUID, kind: str, queue_name: str) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=ACTOR_NAMES[CommandKind(kind)],
        args=(str(case_id),),
        kwargs={},
        options={},
        message_id=str(message_id),
    )
