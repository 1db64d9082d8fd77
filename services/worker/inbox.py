"""The worker's inbox: each delivery of a message is counted before any work, and a message is
marked done in the same transaction as the effect it had, so a delivery after that is a no-op.

COUNT returns this delivery's number, or no row when the message already took effect (or its case
is gone: nothing is left to do for it)."""

COUNT = """
    INSERT INTO message_attempts (message_id, case_id, attempts)
    SELECT %(message_id)s, id, 1 FROM cases WHERE id = %(case_id)s
    ON CONFLICT (message_id) DO UPDATE SET attempts = message_attempts.attempts + 1
        WHERE message_attempts.done_at IS NULL
    RETURNING attempts"""

MARK_DONE = "UPDATE message_attempts SET done_at = now() WHERE message_id = %s"

NOTE_ERROR = "UPDATE message_attempts SET last_error = %s WHERE message_id = %s"
