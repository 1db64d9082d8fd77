"""The message contract between the outbox, the relay and the worker.

A message carries ids, not documents: the case id, and as message id the outbox row's id.
Every command kind has its own actor, so queues and logs say what a message is for. Its AMQP
priority is the case's review priority, scaled: when a backlog builds, RabbitMQ hands the workers
the urgent cases first (the queue is declared with `x-max-priority`).
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


# RabbitMQ advises few priority levels (each is a sub-queue); a case's priority (0, 10 … 40, plus
# escalations) maps onto 0..MAX_PRIORITY.
MAX_PRIORITY = 9


def message_priority(case_priority: int) -> int:
    return max(0, min(MAX_PRIORITY, case_priority // 10))


def command_message(*, message_id: uuid.UUID, case_id: uuid.UUID, kind: str, queue_name: str,
                    case_priority: int = 0) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=ACTOR_NAMES[CommandKind(kind)],
        args=(str(case_id),),
        kwargs={},
        options={"broker_priority": message_priority(case_priority)},
        message_id=str(message_id),
    )
