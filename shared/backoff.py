"""How long to wait after the n-th failure in a row: exponential, capped, jittered. The dispatcher
waits so before trying a subscriber again; the relay, the scheduler and the dispatcher's loops
before trying a database or broker that went away again.

The n-th failure waits `base * 2**(n-1)` seconds, at most `cap`, of which a random half is taken
off: processes or subscribers that failed together (an outage) do not all come back at the same
instant, and the wait is never less than half the nominal one."""

import random


def delay(*, attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    nominal = min(cap, base * 2 ** min(max(attempts, 1) - 1, 62))
    return nominal * (1 - 0.5 * (rng or random).random())
