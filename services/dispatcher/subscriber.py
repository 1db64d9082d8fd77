"""One subscriber's loop: claims what is due for it, posts it with at most `concurrency` requests
in flight, records each result. Every subscriber has its own loop, HTTP client and connection
limit, so a slow or dead one only ever waits on itself."""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.dispatcher import backoff, metrics, payload, sender, store
from services.dispatcher.store import Claimed, Hook

log = logging.getLogger(__name__)

# A database that is away: the loop waits and tries again; nothing is lost meanwhile (rows stay
# pending, leases lapse).
DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)
LEASE_MARGIN = 10.0  # seconds beyond the request's timeout to record its result


class SubscriberLoop:
    def __init__(self, *, hook: Hook, pool: AsyncConnectionPool, timeout: float, concurrency: int,
                 max_attempts: int, backoff_base: float, backoff_max: float, poll_interval: float) -> None:
        self.hook = hook
        self._pool = pool
        self._timeout = timeout
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._backoff = (backoff_base, backoff_max)
        self._poll_interval = poll_interval
        self._batch = payload.batch_size(hook.kind)
        self._lease_seconds = timeout + LEASE_MARGIN
        self._in_flight: set[asyncio.Task] = set()
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._label = str(hook.id)

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        async with httpx.AsyncClient(timeout=self._timeout, limits=limits, follow_redirects=False) as client:
            failures = 0
            while not self._stopping.is_set():
                self._wakeup.clear()
                try:
                    claimed_all = await self._claim()
                    failures = 0
                except DATABASE_AWAY as error:
                    failures += 1
                    pause = min(30.0, 0.25 * 2 ** min(failures, 7)) * random.uniform(0.5, 1.0)
                    log.warning("webhook %s: cannot claim deliveries (%s); again in %.1fs", self.hook.id,
                                type(error).__name__, pause)
                    await self._sleep(pause)
                    continue
                for start in range(0, len(claimed_all), self._batch):
                    self._spawn(self._deliver(client, claimed_all[start:start + self._batch]))
                if claimed_all and self._free_slots():
                    continue  # more may be due right now
                await self._sleep(self._poll_interval)
            await self._drain()

    def _free_slots(self) -> int:
        return self._concurrency - len(self._in_flight)

    async def _claim(self) -> list[Claimed]:
        if (free := self._free_slots()) <= 0:
            return []
        async with self._pool.connection() as conn:
            return await store.claim(conn, webhook_id=self.hook.id, limit=free * self._batch,
                                     lease_seconds=self._lease_seconds)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._in_flight.add(task)

        def finished(task: asyncio.Task) -> None:
            self._in_flight.discard(task)
            if not task.cancelled() and (error := task.exception()) is not None:  # a bug: say it loudly
                log.error("webhook %s: delivery failed unexpectedly", self.hook.id, exc_info=error)
            self._wakeup.set()  # a slot is free, and the case's next event may be due now

        task.add_done_callback(finished)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _drain(self) -> None:
        """On stop, the requests in flight finish (each within its timeout) and are recorded; what
        cannot be recorded comes back to a dispatcher when its lease lapses."""
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=self._timeout + 2)
            for task in late:
                task.cancel()

    async def _deliver(self, client: httpx.AsyncClient, claimed: list[Claimed]) -> None:
        body = payload.body(kind=self.hook.kind, claimed=claimed)
        event_id = str(claimed[0].event_id) if self._batch == 1 else None
        outcome = await sender.post(client, url=self.hook.url, secret=self.hook.secret, body=body,
                                    timeout=self._timeout, event_id=event_id)
        metrics.LATENCY.labels(self._label).observe(outcome.seconds)
        if outcome.ok:
            await self._record(lambda conn: store.delivered(conn, claimed=claimed, status_code=outcome.status_code))
            metrics.DELIVERIES.labels(self._label, "delivered").inc(len(claimed))
            for one in claimed:
                log.debug("delivered %s to webhook %s", one.type, self.hook.id, extra={"case_id": one.case_id})
            return
        base, cap = self._backoff
        delays = [backoff.delay(attempts=c.attempts, base=base, cap=cap) for c in claimed]
        dead: set[int] = set()

        async def record(conn) -> None:
            dead.update(await store.failed(conn, claimed=claimed, delays=delays, error=outcome.error,
                                           status_code=outcome.status_code, max_attempts=self._max_attempts))

        await self._record(record)
        for one, delay in zip(claimed, delays):
            if one.id in dead:
                metrics.DELIVERIES.labels(self._label, "dead").inc()
                log.error("webhook %s: %s gave up after %d attempts: %s", self.hook.id, one.type, one.attempts,
                          outcome.error, extra={"case_id": one.case_id})
            else:
                metrics.DELIVERIES.labels(self._label, "retry").inc()
                log.warning("webhook %s: %s attempt %d failed (%s); again in %.2fs", self.hook.id, one.type,
                            one.attempts, outcome.error, delay, extra={"case_id": one.case_id})

    async def _record(self, write: Callable[[psycopg.AsyncConnection], Awaitable[None]]) -> None:
        """Writes a result, retrying while the database is away and the lease holds; past the
        lease the delivery is another dispatcher's to make again (at least once)."""
        deadline = time.monotonic() + self._lease_seconds - 1
        pause = 0.25
        while True:
            try:
                async with self._pool.connection() as conn:
                    await write(conn)
                return
            except DATABASE_AWAY as error:
                if time.monotonic() + pause > deadline:
                    log.warning("webhook %s: result not recorded (%s); the delivery will be made again",
                                self.hook.id, type(error).__name__)
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
