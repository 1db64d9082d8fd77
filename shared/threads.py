"""A case's LangGraph thread, as Postgres holds it, and how it ends.

The worker's `PostgresSaver` keeps a case's graph in three tables keyed by `thread_id` = the case
id as text (each with an index on it). The OSS checkpointer never deletes anything: a thread lives
until Vigil ends it, which it does when the case becomes final (no appeal can reopen it, so nothing
will ever resume the graph): at once for a case that ends on its own (`auto_closed`, in the one
writer's move), when the appeal window closes for a decided one (the scheduler).

Ending a thread is deleting its rows, not running the graph to its END: a final case's graph has no
step left that matters (its pause is the appeal window, and the only way on from there is an
appeal), its record is the read model and the audit trail, and a delete is one statement in the
transaction that makes the case final, with no message and no worker involved. The worker refuses
any message for a final case (see `services/worker/runner.py`), so a late redelivery cannot write
a new checkpoint.
"""

TABLES = ("checkpoints", "checkpoint_writes", "checkpoint_blobs")


def ending(cases: str) -> str:
    """CTEs (to follow others in a WITH) deleting the threads of the cases in CTE `cases` (column
    `id`); `ended_<table>` returns one row per row deleted."""
    return "".join(f""", ended_{table} AS (
        DELETE FROM {table} WHERE thread_id IN (SELECT id::text FROM {cases})
        RETURNING 1
    )""" for table in TABLES)


def ended_rows() -> str:
    """The number of checkpoint rows the `ending` CTEs deleted (an expression)."""
    return " + ".join(f"(SELECT count(*) FROM ended_{table})" for table in TABLES)
