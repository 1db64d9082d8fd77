"""The bench writes some rows itself (the raw-commit reference, the bare loop's cases, the 1M-case
load). The schema grows while Vigil is worked on, so a required column the bench does not know of
gets a plain value of its type instead of breaking the run."""

import psycopg
from psycopg import sql

# COPY text-format values, which are also valid untyped SQL literals. Text columns (a tenant, a
# name) get the bench's upstream key name, so the rows belong to the key that reads them.
BY_TYPE = {"text": "bench-up", "character varying": "bench-up", "integer": "0", "bigint": "0", "smallint": "0",
           "boolean": "f", "jsonb": "{}", "json": "{}", "timestamp with time zone": "now",
           "timestamp without time zone": "now", "double precision": "0", "numeric": "0"}


def required_extras(conn: psycopg.Connection, table: str, supplied: set[str]) -> dict[str, str]:
    """NOT NULL columns without a default that the bench's row does not name: column → value."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        (table,)).fetchall()
    return {name: BY_TYPE.get(kind, "") for name, kind in rows if name not in supplied}


def insert_sql(conn: psycopg.Connection, table: str, columns: list[str]) -> str:
    """INSERT INTO table (columns + required extras) VALUES (%s for each column, literals for extras)."""
    extras = required_extras(conn, table, set(columns))
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(name) for name in [*columns, *extras]),
        sql.SQL(", ").join([sql.Placeholder()] * len(columns) + [sql.Literal(value) for value in extras.values()]))
    return statement.as_string(conn)


def copy_columns(conn: psycopg.Connection, table: str, columns: list[str]) -> tuple[str, str]:
    """The COPY statement for columns + required extras, and the tab-separated tail each line gets."""
    extras = required_extras(conn, table, set(columns))
    names = ", ".join(f'"{name}"' for name in [*columns, *extras])
    tail = "".join(f"\t{value}" for value in extras.values())
    return f"COPY {table} ({names}) FROM STDIN", tail
