"""A circuit breaker for a remote analyser: after `failures` failures in a row it opens and calls
are not tried (the embedded analyser answers at once) until `cooldown` seconds pass; then one
call is let through as a probe: success closes it, failure opens it again."""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CircuitOpen(RuntimeError):
    """The remote analyser failed repeatedly; it is not asked until the cooldown ends."""


class Breaker:
    def __init__(self, *, failures: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self._cooldown else "open"

    def call(self, attempt: Callable[[], T]) -> T:
        with self._lock:
            if self._opened_at is not None:
                if self._probing or self._clock() - self._opened_at < self._cooldown:
                    raise CircuitOpen("the remote analyser is failing; skipped until the cooldown ends")
                self._probing = True  # half-open: this call is the one probe
        try:
            result = attempt()
        except Exception:
            with self._lock:
                self._probing = False
                self._failures += 1
                if self._opened_at is not None or self._failures >= self._threshold:
                    self._opened_at = self._clock()
            raise
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False
        return result
