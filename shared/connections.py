"""Platform connections, one per tenant: where Vigil calls that tenant's platform, the secret it signs
those calls with, and the timeout. A tenant with none (or whose connection was removed) is served by
the default connection, PLATFORM_URL with PLATFORM_SECRET: a one-platform install needs nothing else.

Each change adds a version (who, when, what changed), so the table is the connection's history.
Secrets are sealed with AES-GCM (`shared.secretbox`), bound to their tenant, and never returned.
The api and the CLI change connections (`change()`, through any psycopg cursor, sync or async via
the statements here); the worker reads the version in force (`CURRENT`) and sees a change within
CONNECTION_CACHE_SECONDS, without a restart.
"""

from dataclasses import dataclass

from shared.secretbox import SecretBox

COLUMNS = "tenant, version, base_url, secret, timeout, removed, changed, created_by, created_at"
CURRENT = f"SELECT {COLUMNS} FROM platform_connections WHERE tenant = %(tenant)s ORDER BY version DESC LIMIT 1"
ALL_CURRENT = f"""SELECT * FROM (SELECT DISTINCT ON (tenant) {COLUMNS} FROM platform_connections
                                  ORDER BY tenant, version DESC) c WHERE NOT removed ORDER BY tenant"""
HISTORY = f"SELECT {COLUMNS} FROM platform_connections WHERE tenant = %(tenant)s ORDER BY version DESC"
ADD = f"""INSERT INTO platform_connections (tenant, version, base_url, secret, timeout, removed, changed, created_by)
          VALUES (%(tenant)s, %(version)s, %(base_url)s, %(secret)s, %(timeout)s, %(removed)s, %(changed)s, %(by)s)
          RETURNING {COLUMNS}"""
SEALED = "SELECT tenant, version, secret FROM platform_connections WHERE secret IS NOT NULL FOR UPDATE"
RESEAL = "UPDATE platform_connections SET secret = %(secret)s WHERE tenant = %(tenant)s AND version = %(version)s"
FIELDS = ("base_url", "secret", "timeout", "removed")


@dataclass(frozen=True)
class Change:
    """A new version: the fields given replace the current ones; `secret` None keeps the current secret."""

    base_url: str | None = None
    secret: str | None = None
    timeout: float | None = None
    removed: bool = False


def next_version(current: dict | None, change: Change, *, tenant: str, box: SecretBox, by: str) -> dict:
    """The parameters of ADD for `change` applied to the version in force (None: there is none)."""
    previous = current or {"version": 0, "base_url": None, "secret": None, "timeout": None, "removed": False}
    if change.removed:
        row = {"base_url": None, "secret": None, "timeout": None, "removed": True}
    else:
        sealed = box.seal(change.secret, context=tenant) if change.secret is not None else previous["secret"]
        row = {"base_url": change.base_url, "secret": sealed, "timeout": change.timeout, "removed": False}
    changed = [name for name in FIELDS if name == "secret" and change.secret is not None
               or name != "secret" and row[name] != previous[name]]
    return {**row, "tenant": tenant, "version": previous["version"] + 1, "changed": changed, "by": by}


def shown(row: dict) -> dict:
    """A version as the api and the CLI show it: whether it signs, never the secret."""
    return {name: row[name] for name in ("tenant", "version", "base_url", "timeout", "removed", "changed",
                                          "created_by", "created_at")} | {"signed": row["secret"] is not None}


def reseal_all(cursor, *, box: SecretBox) -> int:
    """Every sealed secret opened with whichever key sealed it and sealed again under the first key,
    in the cursor's transaction; returns how many were resealed."""
    count = 0
    for tenant, version, sealed in cursor.execute(SEALED).fetchall():
        if not box.is_current(sealed):
            fresh = box.seal(box.open(sealed, context=tenant), context=tenant)
            cursor.execute(RESEAL, {"secret": fresh, "tenant": tenant, "version": version})
            count += 1
    return count

