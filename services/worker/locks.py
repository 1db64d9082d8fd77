"""One run per case at a time, across all workers: a session advisory lock in Postgres, keyed by
the case id. Session-level, so it outlives the commits of a turn; a worker that dies releases it
with its connection."""

# The lock, taken by a turn's opening transaction after it sets its lock and statement timeouts (a
# select list is evaluated in order) and says its commit need not wait for the WAL flush (turn.py).
LOCK = """SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true),
    set_config('synchronous_commit', 'off', true), pg_advisory_lock(hashtextextended(%s, 0))"""
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"
