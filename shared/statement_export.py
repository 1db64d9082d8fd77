"""`vigil statements export`: statements of reasons as JSON lines in the DSA Transparency
Database's submission format (one body a line, the shape its API takes), by when they were issued."""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import TextIO

from psycopg import Connection

from shared.errors import Invalid

_ISSUED = """
    SELECT body FROM statements WHERE issued_at >= %(since)s AND issued_at < %(until)s ORDER BY issued_at, id"""


def bodies(conn: Connection, *, since: date, until: date | None = None) -> Iterator[dict]:
    """The bodies issued from `since` (00:00 UTC) to the end of `until` (default: up to now), oldest
    first, streamed by a server-side cursor (a year of statements need not fit in memory)."""
    if until is not None and until < since:
        raise Invalid(f"--until {until} is before --since {since}")
    end = datetime.combine(until + timedelta(days=1), time(), UTC) if until else datetime.max.replace(tzinfo=UTC)
    with conn.transaction(), conn.cursor(name="statements_export") as cursor:
        cursor.execute(_ISSUED, {"since": datetime.combine(since, time(), UTC), "until": end})
        for (body,) in cursor:
            yield body


def write(conn: Connection, out: TextIO, *, since: date, until: date | None = None) -> int:
    """Writes them to `out`, one JSON object a line; how many."""
    count = 0
    for body in bodies(conn, since=since, until=until):
        out.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count
