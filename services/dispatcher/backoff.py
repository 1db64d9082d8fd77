"""How long a subscriber is left alone after a failed attempt: exponential, capped, jittered.

The n-th failure waits `base * 2**(n-1)` seconds, at most `cap`, of which a random half is taken
off: subscribers that failed together (an outage on their side) do not all come back at the same
instant, and the wait is never less than half the nominal one."""

import random


def delay(*, attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    nominal = min(cap, base * 2 ** min(max(attempts, 1) - 1, 62))
    return nominal * (1 - 0.5 * (rng or random).random())
