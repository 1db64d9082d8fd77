"""`vigil relay`: one relay process until SIGTERM or SIGINT."""

import logging
import signal

from shared.db import make_engine
from shared.metrics import serve_metrics
from shared.settings import Settings
from services.relay.metrics import BacklogGauges
from services.relay.publisher import BatchPublisher
from services.relay.relay import Relay

log = logging.getLogger(__name__)


def run(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=2)  # the relay's transaction and the gauges' query
    # Publisher confirms on: a batch is marked published only for the messages RabbitMQ acked.
    publisher = BatchPublisher(url=settings.rabbitmq_url, queue_name=settings.queue_name)
    relay = Relay(
        engine=engine,
        publisher=publisher,
        listen_conninfo=settings.libpq_url,
        queue_name=settings.queue_name,
        batch_size=settings.relay_batch_size,
        max_batch_size=settings.relay_max_batch_size,
        poll_interval=settings.relay_poll_interval,
    )
    gauges = BacklogGauges(engine=engine, publisher=publisher, queue_name=settings.queue_name)
    if serve_metrics(settings.relay_metrics_port, component="relay"):
        gauges.start()
    # The handler only asks: the batch in hand is published and marked (or recorded as failed)
    # before the loop ends, so a stop never leaves a confirmed row unmarked.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: relay.stop())
    log.info("relay publishing to queue %s", settings.queue_name)
    try:
        relay.run_forever()
    finally:
        gauges.stop()
        publisher.close()
        engine.dispose()
    log.info("relay stopped after publishing %d message(s)", relay.published)
