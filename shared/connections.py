"""Platform connections, one per tenant: where Vigil calls that tenant's platform, the secret it signs
those calls with, the timeout, and where the tenant's statements of reasons go (the DSA
Transparency Database with the platform's token, or an endpoint of its own). A tenant with none (or whose connection was removed) is served by
the default connection, PLATFORM_URL with PLATFORM_SECRET: a one-platform install needs nothing else.

Each change adds a version (who, when, what changed), so the table is the connection's history.
Secrets are sealed with AES-GCM (`shared.secretbox`), bound to their tenant, and never returned.
The api and the CLI change connections (`change()`, through any psycopg cursor, sync or async via
the statements here); the worker reads the version in force (`CURRENT`) and sees a change within
CONNECTION_CACHE_SECONDS, without a restart.

A statements endpoint is delivered by the dispatcher as a subscriber of the tenant's
`statement.issued` events: each version's writer keeps that `webhooks` row in step (`SYNC_HOOK`,
same transaction); the dispatcher opens the token from the version in force.
"""

from dataclasses import dataclass

from shared.errors import Conflict, NotFound
from shared.secretbox import SecretBox

COLUMNS = ("tenant, version, base_url, secret, timeout, statements_url, statements_kind, statements_token, removed,"
           " changed, created_by, created_at")
CURRENT = f"SELECT {COLUMNS} FROM platform_connections WHERE tenant = %(tenant)s ORDER BY version DESC LIMIT 1"
ALL_CURRENT = f"""SELECT * FROM (SELECT DISTINCT ON (tenant) {COLUMNS} FROM platform_connections
                                  ORDER BY tenant, version DESC) c WHERE NOT removed ORDER BY tenant"""
HISTORY = f"SELECT {COLUMNS} FROM platform_connections WHERE tenant = %(tenant)s ORDER BY version DESC"
ADD = f"""INSERT INTO platform_connections (tenant, version, base_url, secret, timeout, statements_url,
                                                statements_kind, statements_token, removed, changed, created_by)
          VALUES (%(tenant)s, %(version)s, %(base_url)s, %(secret)s, %(timeout)s, %(statements_url)s,
                  %(statements_kind)s, %(statements_token)s, %(removed)s, %(changed)s, %(by)s)
          RETURNING {COLUMNS}"""
SEALED = """SELECT tenant, version, secret, statements_token FROM platform_connections
            WHERE secret IS NOT NULL OR statements_token IS NOT NULL FOR UPDATE"""
RESEAL = """UPDATE platform_connections SET secret = %(secret)s, statements_token = %(statements_token)s
            WHERE tenant = %(tenant)s AND version = %(version)s"""
FIELDS = ("base_url", "secret", "timeout", "statements_url", "statements_kind", "statements_token", "removed")
SECRETS = ("secret", "statements_token")

# Statements: 'dsa-transparency-db' (its API: Bearer token, batches of 100, puids once) or
# 'signed' (the platform's own endpoint, batches signed with the token as the callbacks are).
STATEMENTS_KINDS = {"dsa-transparency-db": "dsa-transparency-db", "signed": "statements"}  # → webhooks.kind
HOOK_CREATOR = "connection:"  # + tenant: the webhooks row a connection's statements endpoint owns
# The tenant's statements subscriber as its version in force says: updated, added or deleted (with
# its delivered rows; a writer refuses first while any are still to go, see `check`).
SYNC_HOOK = f"""
    WITH now AS (
        SELECT tenant, statements_url, statements_kind FROM platform_connections
        WHERE tenant = %(tenant)s AND NOT removed AND statements_url IS NOT NULL
          AND version = (SELECT max(version) FROM platform_connections WHERE tenant = %(tenant)s)
    ), gone AS (
        DELETE FROM webhooks WHERE created_by = '{HOOK_CREATOR}' || %(tenant)s AND NOT EXISTS (SELECT 1 FROM now)
    ), kept AS (
        UPDATE webhooks w SET url = now.statements_url, kind = now.statements_kind
        FROM now WHERE w.created_by = '{HOOK_CREATOR}' || now.tenant
        RETURNING w.id
    )
    INSERT INTO webhooks (id, url, events, secret, tenant, kind, created_by)
    SELECT gen_random_uuid(), statements_url, ARRAY['statement.issued'], '', tenant, statements_kind,
           '{HOOK_CREATOR}' || tenant
    FROM now WHERE NOT EXISTS (SELECT 1 FROM kept)"""
# The tenant's statements not yet delivered (pending, or dead until replayed): its endpoint stays
# while there are any, so removing it loses none.
UNDELIVERED = f"""SELECT count(*) AS n FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                  WHERE w.created_by = '{HOOK_CREATOR}' || %(tenant)s AND d.status IN ('pending', 'dead')"""


def check(current: dict | None, change: "Change", *, tenant: str, undelivered: int) -> None:
    """Refuses a change that cannot be made now, for the api and the CLI alike: removing a
    connection the tenant does not have (NotFound), or dropping its statements endpoint while
    `undelivered` of its statements are still to go (Conflict)."""
    if change.removed and (current is None or current["removed"]):
        raise NotFound(f"tenant {tenant!r} has no connection of its own to remove")
    if undelivered and (change.removed or not change.statements_url):
        raise Conflict(f"{undelivered} statement(s) of {tenant!r} are not delivered yet (pending, or dead until "
                       f"replayed): keep its statements endpoint until they are")


@dataclass(frozen=True)
class Change:
    """A new version: the fields given replace the current ones; `secret` None keeps the current secret."""

    base_url: str | None = None
    secret: str | None = None
    timeout: float | None = None
    statements_url: str | None = None
    statements_kind: str | None = None  # a key of STATEMENTS_KINDS
    statements_token: str | None = None  # None keeps the current token
    removed: bool = False


def next_version(current: dict | None, change: Change, *, tenant: str, box: SecretBox, by: str) -> dict:
    """The parameters of ADD for `change` applied to the version in force (None: there is none)."""
    previous = current or {"version": 0, "removed": False} | dict.fromkeys(FIELDS[:-1])
    if change.removed:
        row = dict.fromkeys(FIELDS[:-1]) | {"removed": True}
    else:
        row = {"base_url": change.base_url, "timeout": change.timeout, "statements_url": change.statements_url,
               "statements_kind": STATEMENTS_KINDS[change.statements_kind] if change.statements_url else None,
               "removed": False}
        for name in SECRETS:  # a secret given is sealed for this tenant; none keeps the current one
            given = getattr(change, name)
            row[name] = box.seal(given, context=tenant) if given is not None else previous[name]
        if not row["statements_url"]:
            row["statements_token"] = None
    changed = [name for name in FIELDS if name in SECRETS and getattr(change, name, None) is not None
               or name not in SECRETS and row[name] != previous[name]]
    return {**row, "tenant": tenant, "version": previous["version"] + 1, "changed": changed, "by": by}


def shown(row: dict) -> dict:
    """A version as the api and the CLI show it: whether it signs, never a secret."""
    kind = {hook: name for name, hook in STATEMENTS_KINDS.items()}.get(row["statements_kind"])
    return {name: row[name] for name in ("tenant", "version", "base_url", "timeout", "statements_url", "removed",
                                          "changed", "created_by", "created_at")} | {
        "signed": row["secret"] is not None, "statements_kind": kind,
        "statements_token": row["statements_token"] is not None}


def reseal_all(cursor, *, box: SecretBox) -> int:
    """Every sealed secret opened with whichever key sealed it and sealed again under the first key,
    in the cursor's transaction; returns how many versions were resealed."""
    count = 0
    for tenant, version, *sealed in cursor.execute(SEALED).fetchall():
        if all(one is None or box.is_current(one) for one in sealed):
            continue
        fresh = [None if one is None else box.seal(box.open(one, context=tenant), context=tenant) for one in sealed]
        cursor.execute(RESEAL, {"secret": fresh[0], "statements_token": fresh[1], "tenant": tenant, "version": version})
        count += 1
    return count
