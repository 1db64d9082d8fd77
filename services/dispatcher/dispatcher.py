"""The dispatcher: one `SubscriberLoop` per webhook, kept in step with the `webhooks` table, and
the backlog gauges. Safe to run several: they share each subscriber's rows through leases."""

import asyncio
import logging
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings
from services.dispatcher import metrics, store
from services.dispatcher.store import Hook
from services.dispatcher.recorder import DATABASE_AWAY
from services.dispatcher.subscriber import SubscriberLoop

log = logging.getLogger(__name__)

WEBHOOKS_REFRESH = 1.0  # seconds: a webhook registered or deleted is picked up within this
GAUGES_REFRESH = 5.0


class Dispatcher:
    def __init__(self, *, pool: AsyncConnectionPool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._loops: dict[UUID, tuple[SubscriberLoop, asyncio.Task]] = {}
        self._retiring: set[asyncio.Task] = set()  # loops of deleted or changed webhooks, finishing their requests

    async def run(self, *, stopping: asyncio.Event) -> None:
        """Until `stopping` is set; then each subscriber's requests in flight finish and are recorded."""
        clock = asyncio.get_running_loop()
        next_gauges = 0.0
        try:
            while not stopping.is_set():
                await self._follow_webhooks()
                if clock.time() >= next_gauges:
                    await self._refresh_gauges()
                    next_gauges = clock.time() + GAUGES_REFRESH
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=WEBHOOKS_REFRESH)
                except TimeoutError:
                    pass
        finally:
            for loop, _ in self._loops.values():
                loop.stop()
            await asyncio.gather(*(task for _, task in self._loops.values()), *self._retiring, return_exceptions=True)
            self._loops.clear()

    async def _follow_webhooks(self) -> None:
        try:
            async with self._pool.connection() as conn:
                hooks = {hook.id: hook for hook in await store.webhooks(conn, box=self._settings.secret_box)}
        except DATABASE_AWAY as error:  # the loops keep what they know; the database comes back
            log.warning("cannot read the webhooks (%s)", type(error).__name__)
            return
        for hook_id, (loop, task) in list(self._loops.items()):
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("webhook %s: its loop crashed; starting it again", hook_id, exc_info=task.exception())
            if hooks.get(hook_id) != loop.hook or task.done():  # deleted, changed (url, secret) or crashed
                loop.stop()
                del self._loops[hook_id]
                if not task.done():
                    self._retiring.add(task)
                    task.add_done_callback(self._retiring.discard)
                if hook_id not in hooks:
                    log.info("webhook %s removed: its loop stops", hook_id)
                    for gauge in metrics.GAUGES:
                        gauge.remove(str(hook_id))
        for hook_id, hook in hooks.items():
            if hook_id not in self._loops:
                self._start(hook)

    def _start(self, hook: Hook) -> None:
        settings = self._settings
        loop = SubscriberLoop(hook=hook, pool=self._pool, timeout=settings.webhook_timeout,
                              concurrency=settings.webhook_concurrency, max_attempts=settings.webhook_max_attempts,
                              backoff_base=settings.webhook_backoff_base, backoff_max=settings.webhook_backoff_max,
                              poll_interval=settings.dispatcher_poll_interval)
        self._loops[hook.id] = (loop, asyncio.create_task(loop.run(), name=f"webhook-{hook.id}"))
        log.info("delivering to webhook %s (%s, %s)", hook.id, hook.kind, hook.url)

    async def _refresh_gauges(self) -> None:
        try:
            async with self._pool.connection() as conn:
                backlog = await store.backlog(conn)
        except DATABASE_AWAY as error:
            log.warning("cannot read the delivery backlog (%s)", type(error).__name__)
            return
        for hook_id in self._loops:
            pending, oldest, dead = backlog.get(hook_id, (0, 0.0, 0))
            label = str(hook_id)
            metrics.PENDING.labels(label).set(pending)
            metrics.OLDEST_PENDING_AGE.labels(label).set(oldest)
            metrics.DEAD.labels(label).set(dead)
