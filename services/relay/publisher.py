"""Publishing a batch of Dramatiq messages with publisher confirms awaited together.

Dramatiq's RabbitmqBroker with confirm_delivery=True waits for each message's confirm before it
sends the next: one round trip per message. Here the whole batch is written to a channel in
confirm mode and the confirms are gathered afterwards, so a batch costs about one round trip.
aio-pika (over aiormq) keeps one future per delivery tag and resolves it on the broker's ack, nack
or return, `multiple` acks included, so each message's fate is known on its own.

The relay is synchronous (SQLAlchemy, psycopg LISTEN), so the publisher runs its own event loop
on a thread: the connection keeps its heartbeats while the relay sleeps on LISTEN, and `publish`
is an ordinary blocking call.
"""

import asyncio
import logging
import threading
from collections.abc import Sequence

import aio_pika
import aio_pika.abc
import aiormq.exceptions
import dramatiq
from pamqp import commands as spec

from shared.broker import dramatiq_queues

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 30.0  # a broker that neither confirms nor drops the connection by then is treated as away


class BatchInterrupted(Exception):
    """The broker did not confirm some messages of a batch; `confirmed` are the ids it did confirm."""

    def __init__(self, *, confirmed: list[str], cause: BaseException) -> None:
        super().__init__(f"publishing stopped after {len(confirmed)} confirmed message(s): {cause!r}")
        self.confirmed = confirmed
        self.cause = cause


class BatchPublisher:
    def __init__(self, *, url: str, queue_name: str, confirm_timeout: float = CONFIRM_TIMEOUT) -> None:
        self._url = url
        self._queue_name = queue_name
        self._confirm_timeout = confirm_timeout
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._declared = False
        self._connecting = asyncio.Lock()  # the relay and the metrics thread may both need the channel
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay-publisher", daemon=True)
        self._thread.start()

    def publish(self, messages: Sequence[dramatiq.Message]) -> list[str]:
        """Publish all, then wait for all confirms; returns the message ids, or raises BatchInterrupted naming
        exactly the messages RabbitMQ acked. A nacked, returned or unanswered one is never among them."""
        if not messages:
            return []
        return self._call(self._publish(messages))

    def queue_depth(self) -> int:
        """Messages ready in the queue (a passive declare, on a channel of its own: a passive
        declare of a missing queue closes its channel)."""
        return self._call(self._queue_depth())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._disconnect())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def _call(self, coroutine):
        # No timeout here: every await inside has its own, so this always returns or raises.
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _publish(self, messages: Sequence[dramatiq.Message]) -> list[str]:
        try:
            channel = await self._ready_channel()
            # aiormq's channel under aio-pika's: half the CPU per message of Exchange.publish, which
            # matters at thousands of messages a second on a small machine.
            underlay = await channel.get_underlay_channel()
        except Exception as error:  # broker away, refused login, declare refused: nothing was sent
            await self._disconnect()
            raise BatchInterrupted(confirmed=[], cause=error) from error
        # wait=False: do not wait for each frame to reach the socket before sending the next; the
        # confirm is still awaited. One deadline for the batch, not one timer per message.
        tasks = [asyncio.ensure_future(underlay.basic_publish(
            message.encode(), routing_key=message.queue_name, mandatory=True, wait=False,
            properties=_properties(message))) for message in messages]
        _, pending = await asyncio.wait(tasks, timeout=self._confirm_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        confirmed, failure = [], None
        for message, task in zip(messages, tasks):
            if task.cancelled():
                failure = failure or TimeoutError(f"no confirm within {self._confirm_timeout} s")
            elif (error := task.exception()) is not None:
                failure = failure or error
            elif isinstance(task.result(), spec.Basic.Ack):
                confirmed.append(message.message_id)
            else:  # neither ack nor error: never count it as confirmed
                failure = failure or aiormq.exceptions.DeliveryError(None, task.result())
        if failure is None:
            return confirmed
        if isinstance(failure, aiormq.exceptions.PublishError):
            self._declared = False  # returned as unroutable: the queue is gone, declare it again
        if not isinstance(failure, aiormq.exceptions.DeliveryError) or self._channel is None \
                or self._channel.is_closed:
            await self._disconnect()  # a connection that failed once is not trusted with the next batch
        raise BatchInterrupted(confirmed=confirmed, cause=failure)

    async def _ready_channel(self) -> aio_pika.abc.AbstractChannel:
        async with self._connecting:
            return await self._open_channel()

    async def _open_channel(self) -> aio_pika.abc.AbstractChannel:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect(self._url, timeout=5)
            self._channel = None
            self._declared = False
        if self._channel is None or self._channel.is_closed:
            # on_return_raises: an unroutable message is an error for its own publish, never an ack
            self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._declared = False
        if not self._declared:
            for queue in dramatiq_queues(self._queue_name):
                await self._channel.declare_queue(queue.name, durable=queue.durable, arguments=queue.arguments,
                                                  timeout=5)
            self._declared = True
        return self._channel

    async def _queue_depth(self) -> int:
        await self._ready_channel()
        assert self._connection is not None
        async with self._connection.channel(publisher_confirms=False) as channel:
            queue = await channel.declare_queue(self._queue_name, passive=True, timeout=5)
            return queue.declaration_result.message_count or 0

    async def _disconnect(self) -> None:
        connection, self._connection, self._channel, self._declared = self._connection, None, None, False
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), 5)
            except (aiormq.exceptions.AMQPError, OSError, RuntimeError, asyncio.TimeoutError) as error:
                log.debug("closing the RabbitMQ connection failed: %r", error)


def _properties(message: dramatiq.Message) -> spec.Basic.Properties:
    # What RabbitmqBroker.enqueue sends with the encoded message: persistent, the broker_priority
    # option as priority. The AMQP message id (aiormq would invent one, and matches returns by it)
    # is Dramatiq's, so the broker's tools show the outbox row's id.
    return spec.Basic.Properties(delivery_mode=2, priority=message.options.get("broker_priority"),
                                 message_id=message.message_id)
