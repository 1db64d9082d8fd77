"""One subscriber's loop: claims what is due for it, posts it with at most `concurrency` requests
in flight, records each result. Every subscriber has its own loop, HTTP client and connection
limit, so a slow or dead one only ever waits on itself."""

import asyncio
import logging
import time
from collections.abc import Awaitable

import httpx
from psycopg_pool import AsyncConnectionPool

from shared import backoff
from services.dispatcher import metrics, payload, sender, store, transparency_db
from services.dispatcher.recorder import DATABASE_AWAY, DeliveredRecorder, write_with_retries
from services.dispatcher.store import Claimed, Hook

log = logging.getLogger(__name__)

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
        self._tasks: set[asyncio.Task] = set()  # deliveries: the request, then the recording of its result
        self._requests = 0  # requests in flight: what `concurrency` bounds
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._label = str(hook.id)
        self._recorder = DeliveredRecorder(pool=pool)

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
                    pause = backoff.delay(attempts=failures, base=0.5, cap=30.0)
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
        return self._concurrency - self._requests

    async def _claim(self) -> list[Claimed]:
        # Under load, a claim waits for half the slots to be free: one query for several deliveries.
        free = self._free_slots()
        if free <= 0 or (self._requests and free * 2 < self._concurrency):
            return []
        async with self._pool.connection() as conn:
            return await store.claim(conn, webhook_id=self.hook.id, limit=free * self._batch,
                                     lease_seconds=self._lease_seconds)

    def _spawn(self, work: Awaitable[None]) -> None:
        self._requests += 1  # counted now, not when the task starts, so the next claim sees it
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def finished(task: asyncio.Task) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and (error := task.exception()) is not None:  # a bug: say it loudly
                log.error("webhook %s: delivery failed unexpectedly", self.hook.id, exc_info=error)
            self._wakeup.set()  # the case's next event may be due now

        task.add_done_callback(finished)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _drain(self) -> None:
        """On stop, the requests in flight finish (each within its timeout) and are recorded; what
        cannot be recorded comes back to a dispatcher when its lease lapses."""
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self._timeout + 2)
            for task in late:
                task.cancel()

    async def _deliver(self, client: httpx.AsyncClient, claimed: list[Claimed]) -> None:
        body = payload.body(kind=self.hook.kind, claimed=claimed)
        event_id = str(claimed[0].event_id) if self._batch == 1 else None
        deadline = time.monotonic() + self._lease_seconds - 1  # the lease began at the claim, just now
        database = self.hook.kind == transparency_db.KIND
        try:
            outcome = await sender.post(client, url=self.hook.url, secret=self.hook.secret, body=body,
                                        timeout=self._timeout, event_id=event_id, bearer=database)
        finally:  # the subscriber is done with it: its slot is free while the result is recorded
            self._requests -= 1
            self._wakeup.set()
        metrics.LATENCY.labels(self._label).observe(outcome.seconds)
        answered = transparency_db.answered(claimed, outcome) if database else None
        if answered is not None:
            await self._delivered([one for one, _ in answered.delivered], outcome, deadline,
                                  answers=[answer for _, answer in answered.delivered])
            if answered.again:  # the batch went back only for the puids the database had: again now
                await self._failed(answered.again, "sent again without the statements the database had",
                                   outcome.status_code, deadline, delays=[0.0] * len(answered.again))
        elif outcome.ok:
            await self._delivered(claimed, outcome, deadline)
        else:
            base, cap = self._backoff
            # The database refusing what a batch says (its schema, a bad token) will say so again:
            # dead now, to be replayed once fixed. Any other subscriber's failure is tried again.
            refused = database and outcome.status_code in transparency_db.REFUSALS
            await self._failed(claimed, outcome.error, outcome.status_code, deadline,
                               delays=[backoff.delay(attempts=c.attempts, base=base, cap=cap) for c in claimed],
                               max_attempts=1 if refused else self._max_attempts)

    async def _delivered(self, claimed: list[Claimed], outcome: sender.Outcome, deadline: float,
                         answers: list[dict | None] | None = None) -> None:
        await self._recorder.record(claimed, status_code=outcome.status_code, deadline=deadline, answers=answers)
        metrics.DELIVERIES.labels(self._label, "delivered").inc(len(claimed))
        for one in claimed:
            log.debug("delivered %s to webhook %s", one.type, self.hook.id, extra={"case_id": one.case_id})

    async def _failed(self, claimed: list[Claimed], error: str, status_code: int | None, deadline: float, *,
                      delays: list[float], max_attempts: int | None = None) -> None:
        dead: set[int] = set()

        async def record(conn) -> None:
            dead.update(await store.failed(conn, claimed=claimed, delays=delays, error=error, status_code=status_code,
                                           max_attempts=max_attempts or self._max_attempts))

        await write_with_retries(self._pool, record, deadline=deadline, what=f"webhook {self.hook.id}'s failed attempt")
        for one, delay in zip(claimed, delays):
            if one.id in dead:
                metrics.DELIVERIES.labels(self._label, "dead").inc()
                log.error("webhook %s: %s gave up after %d attempts: %s", self.hook.id, one.type, one.attempts,
                          error, extra={"case_id": one.case_id})
            else:
                metrics.DELIVERIES.labels(self._label, "retry").inc()
                log.warning("webhook %s: %s attempt %d failed (%s); again in %.2fs", self.hook.id, one.type,
                            one.attempts, error, delay, extra={"case_id": one.case_id})
