"""The Dramatiq RabbitMQ broker, set up once per process with publisher confirms on."""

from dramatiq.brokers.rabbitmq import RabbitmqBroker

from shared.settings import Settings


def make_broker(settings: Settings) -> RabbitmqBroker:
    # confirm_delivery is off by default in Dramatiq: without it a publish can vanish silently.
    return RabbitmqBroker(url=settings.rabbitmq_url, confirm_delivery=True)
