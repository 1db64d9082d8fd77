"""`vigil relay`: one relay process until SIGTERM or SIGINT."""

import logging
import signal

from shared.broker import make_broker
from shared.db import make_engine
from shared.settings import Settings
from services.relay.relay import Relay

log = logging.getLogger(__name__)


def run(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=2)
    broker = make_broker(settings)  # confirm_delivery=True: a publish returns only once RabbitMQ has it
    relay = Relay(
        engine=engine,
        broker=broker,
        listen_conninfo=settings.libpq_url,
        queue_name=settings.queue_name,
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval,
        stuck_after=settings.stuck_after_seconds,
    )
    # The handler only asks: the batch in hand is published and marked (or recorded as failed)
    # before the loop ends, so a stop never leaves a confirmed row unmarked.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: relay.stop())
    log.info("relay publishing to queue %s", settings.queue_name)
    try:
        relay.run_forever()
    finally:
        broker.close()
        engine.dispose()
    log.info("relay stopped after publishing %d message(s)", relay.published)
