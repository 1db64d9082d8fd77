"""Rate limits in front of the api: token buckets per address, per key, and per address for
requests that carry no key or a key that failed, answered with 429 and `Retry-After`.

A pure ASGI middleware (BaseHTTPMiddleware costs a task and a stream per request). Buckets live
in this process, in insertion-ordered maps: each request touches at most three, O(1); a bucket
idle long enough to be full again is dropped, and no map grows past `rate_limit_max_buckets`.
The hot path takes no lock: the api's code runs on its event loop, and a charge from a worker
thread at worst races another by one token.

The auth code calls `charge_failed_auth(scope)` when a key is unknown, revoked or expired. From
then on, an address whose failure budget is spent gets 429 for any request with no key, a new
key or a key that failed, before any lookup; keys that worked from there keep working.
Behind a proxy the address is the proxy's unless uvicorn's `--proxy-headers` and
`--forwarded-allow-ips` let it read the client's address from the proxy.
"""

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.settings import Settings

SCOPE_KEY = "vigil.ratelimit"


class Bucket:
    __slots__ = ("tokens", "stamp", "failed")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.failed = False  # a key that failed authentication


class Buckets:
    """Token buckets by name, least recently touched first."""

    def __init__(self, *, rate: float, burst: int, max_entries: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_entries = max_entries
        self.idle_after = burst / rate if rate else math.inf  # by then a bucket is full: forgetting it is free
        self._entries: OrderedDict[object, Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: object) -> Bucket | None:
        return self._entries.get(name)

    def _refilled(self, name: object, now: float) -> Bucket:
        bucket = self._entries.get(name)
        if bucket is None:
            bucket = self._entries[name] = Bucket(self.burst, now)
            self._evict(now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            self._entries.move_to_end(name)
        return bucket

    def _evict(self, now: float) -> None:
        entries = self._entries
        for _ in range(2):  # a little per insert keeps each request O(1)
            oldest = next(iter(entries.values()))
            if len(entries) > self.max_entries or now - oldest.stamp >= self.idle_after:
                entries.popitem(last=False)
            else:
                return

    def take(self, name: object, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        if not self.rate:
            return 0.0
        bucket = self._refilled(name, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def wait(self, name: object, now: float) -> float:
        """Like `take`, without taking: the seconds until a token is there (0.0: there is one)."""
        bucket = self._entries.get(name)
        if not self.rate or bucket is None:
            return 0.0
        tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def charge(self, name: object, now: float) -> None:
        """Spend a token whether or not one is left (never below empty)."""
        if self.rate:
            bucket = self._refilled(name, now)
            bucket.tokens = max(0.0, bucket.tokens - 1)


def _api_key(scope: dict) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return value
    return None


API_PREFIX = "/v1/"  # the calls that take a key


class RateLimit:
    """`RateLimit(app, settings=settings)`; `exempt_paths` (e.g. health probes) skip every limit."""

    def __init__(self, app, *, settings: Settings, exempt_paths: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self.exempt_paths = frozenset(exempt_paths)
        size = settings.rate_limit_max_buckets
        self.addresses = Buckets(rate=settings.rate_limit_per_address, burst=settings.rate_limit_per_address_burst,
                                 max_entries=size)
        self.keys = Buckets(rate=settings.rate_limit_per_key, burst=settings.rate_limit_per_key_burst,
                            max_entries=size)
        self.unauthenticated = Buckets(rate=settings.rate_limit_unauthenticated,
                                       burst=settings.rate_limit_unauthenticated_burst, max_entries=size)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            return await self.app(scope, receive, send)
        now = self.clock()
        address = scope["client"][0] if scope.get("client") else "-"
        if wait := self.addresses.take(address, now):
            return await _too_many(send, wait, "too many requests from your address")
        key = _api_key(scope)
        # Python's (salted) hash names the key's bucket: no secret is kept, a collision only shares a bucket.
        key_id = None if key is None else hash(key)
        if key_id is None and not scope["path"].startswith(API_PREFIX):
            pass  # the page, its files and the docs need no key: only the address limit applies
        elif key_id is None:
            if wait := self.unauthenticated.take(address, now):
                return await _too_many(send, wait, "too many requests without an API key from your address")
        else:
            known = self.keys.get(key_id)
            if (known is None or known.failed) and (wait := self.unauthenticated.wait(address, now)):
                return await _too_many(send, wait, "too many failed authentications from your address")
            if wait := self.keys.take(key_id, now):
                return await _too_many(send, wait, "too many requests with this API key")
        scope[SCOPE_KEY] = (self, address, key_id)
        await self.app(scope, receive, send)

    def charge_failure(self, address: str, key_id: int | None) -> None:
        self.unauthenticated.charge(address, self.clock())
        if key_id is not None and (bucket := self.keys.get(key_id)) is not None:
            bucket.failed = True


def charge_failed_auth(scope: dict) -> None:
    """Count a failed authentication against the caller's address (and its key); harmless without
    the middleware. Call it with `request.scope` when a key is unknown, revoked or expired (a request
    with no key at all was already counted on its way in)."""
    if (entry := scope.get(SCOPE_KEY)) is not None:
        limiter, address, key_id = entry
        limiter.charge_failure(address, key_id)


async def _too_many(send, wait: float, message: str) -> None:
    body = json.dumps({"error": "rate_limited", "message": message}).encode()
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, math.ceil(wait))).encode())]})
    await send({"type": "http.response.body", "body": body})
