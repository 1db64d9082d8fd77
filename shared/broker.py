"""The Dramatiq RabbitMQ broker, set up once per process with publisher confirms on, and the
queue layout Dramatiq declares, for the relay, which publishes without Dramatiq's broker."""

from dataclasses import dataclass, field
from typing import Any

from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import dq_name, xq_name

from shared.contracts import MAX_PRIORITY
from shared.settings import Settings


def make_broker(settings: Settings) -> RabbitmqBroker:
    # confirm_delivery is off by default in Dramatiq: without it a publish can vanish silently.
    return RabbitmqBroker(url=settings.rabbitmq_url, confirm_delivery=True, max_priority=MAX_PRIORITY)


@dataclass(frozen=True)
class QueueDeclaration:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    durable: bool = True


def dramatiq_queues(queue_name: str) -> list[QueueDeclaration]:
    """The queue, its delay queue and its dead-letter queue, with exactly the arguments Dramatiq's
    RabbitmqBroker (`max_priority=MAX_PRIORITY`) declares them with: RabbitMQ refuses a second
    declaration whose arguments differ (PRECONDITION_FAILED), and the worker declares them too when
    it starts. A queue declared before it was a priority queue must be deleted once (empty) and
    declared again."""
    dead_letter = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue_name),
                   "x-max-priority": MAX_PRIORITY}
    return [
        QueueDeclaration(queue_name, dict(dead_letter)),
        QueueDeclaration(dq_name(queue_name), dict(dead_letter)),
        QueueDeclaration(xq_name(queue_name), {"x-message-ttl": DEAD_MESSAGE_TTL}),
    ]
