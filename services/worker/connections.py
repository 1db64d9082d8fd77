"""Which platform a case's actions go to: its tenant's connection, or the default one.

The worker looks a tenant's connection up when it acts (one primary-key read, then cached for
CONNECTION_CACHE_SECONDS), so a connection changed through the api or the CLI is used within those
seconds without a restart. A secret that does not open is never a reason to call unsigned or to
call the default platform: the action waits (PlatformUnavailable) and the case shows why.
"""

import threading
import time

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared import connections
from shared.secretbox import SecretsUnavailable
from shared.settings import Settings
from services.worker.platform import PlatformClient, PlatformUnavailable


class Platforms:
    def __init__(self, *, db: ConnectionPool, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._box = settings.secret_box
        secret = settings.platform_secret.get_secret_value() if settings.platform_secret else None
        self.default = self._client(settings.platform_url, secret=secret, timeout=None)
        self._cache: dict[str, tuple[float, int | None, PlatformClient]] = {}  # tenant → (read at, version, client)
        self._replaced: list[PlatformClient] = []  # closed at the end: a thread may still be calling one
        self._lock = threading.Lock()

    def for_tenant(self, tenant: str) -> PlatformClient:
        now = time.monotonic()
        cached = self._cache.get(tenant)
        if cached is not None and now - cached[0] < self._settings.connection_cache_seconds:
            return cached[2]
        with self._db.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(connections.CURRENT, {"tenant": tenant}).fetchone()
        version = None if row is None or row["removed"] else row["version"]
        with self._lock:
            if cached is not None and cached[1] == version:
                client = cached[2]
            else:
                client = self.default if version is None else self._opened(row)
                if cached is not None and cached[2] is not self.default:
                    self._replaced.append(cached[2])
            self._cache[tenant] = (now, version, client)
        return client

    def _opened(self, row: dict) -> PlatformClient:
        try:
            secret = self._box.open(row["secret"], context=row["tenant"]) if row["secret"] is not None else None
        except SecretsUnavailable as error:
            raise PlatformUnavailable(f"the connection of tenant {row['tenant']!r} (version {row['version']}) "
                                      f"cannot be used: {error}") from error
        return self._client(row["base_url"], secret=secret, timeout=row["timeout"])

    def _client(self, base_url: str, *, secret: str | None, timeout: float | None) -> PlatformClient:
        settings = self._settings
        return PlatformClient(base_url=base_url, secret=secret, timeout=timeout or settings.platform_timeout,
                              retries=settings.platform_retries, retry_wait=settings.platform_retry_wait)

    def close(self) -> None:
        for client in {id(c): c for c in [self.default, *self._replaced, *(c for _, _, c in self._cache.values())]}.values():
            client.close()
