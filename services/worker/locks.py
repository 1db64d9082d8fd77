"""One run per case at a time, across all workers: a session advisory lock in Postgres, keyed by
the case id. Session-level, so it outlives the commits of a turn; a worker that dies releases it
with its connection."""

LOCK = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"
