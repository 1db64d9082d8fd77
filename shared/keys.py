"""API keys: random secrets shown once, stored as digests, looked up by digest.

A key is `vgl_` + 43 random characters. Besides its digest we keep `key_prefix`, the first 8
characters after `vgl_`: not enough to use the key, enough for an operator to tell keys apart.
A key is valid while it is neither revoked nor past its `expires_at`.

Looking a key up from anywhere (sync or async, ORM or plain psycopg): `LOOKUP_SQL` takes one
parameter, `digest` (see `digest()`), and yields at most one row `(name, role, tenant, expires_at)`
of a valid key (a `KeyRecord`); `lookup()` and `lookup_async()` run it on a psycopg connection.
A process that caches answers must drop a cached key at its `expires_at` and when a digest
arrives on the `KEYS_CHANNEL` notification channel: revoking or rotating a key sends one
`NOTIFY vigil_keys, '<digest>'` per key whose validity ended or was shortened, on commit.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from shared.domain import Role
from shared.errors import Conflict, Invalid, NotFound
from shared.models import ApiKey

PREFIX = "vgl_"
PREFIX_CHARS = 8
KEYS_CHANNEL = "vigil_keys"

LOOKUP_SQL = (
    "SELECT name, role, tenant, expires_at FROM api_keys"
    " WHERE key_hash = %(digest)s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
)


class KeyRecord(NamedTuple):
    name: str
    role: str
    tenant: str | None
    expires_at: datetime | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    return key.removeprefix(PREFIX)[:PREFIX_CHARS]


def shown_prefix(stored: ApiKey) -> str:
    """How a key is named on screen: never more than its stored prefix."""
    return f"{PREFIX}{stored.key_prefix}…" if stored.key_prefix else "(made before prefixes)"


def lookup(conn, key: str) -> KeyRecord | None:
    """The valid key behind `key`, on a psycopg (sync) connection."""
    row = conn.execute(LOOKUP_SQL, {"digest": digest(key)}).fetchone()
    return KeyRecord(*row) if row else None


async def lookup_async(conn, key: str) -> KeyRecord | None:
    """The valid key behind `key`, on a psycopg AsyncConnection."""
    cursor = await conn.execute(LOOKUP_SQL, {"digest": digest(key)})
    row = await cursor.fetchone()
    return KeyRecord(*row) if row else None


def _valid(now) -> object:
    return (ApiKey.revoked_at.is_(None)) & (or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))


def find_key(session: Session, key: str) -> ApiKey | None:
    """The valid (not revoked, not expired) key behind `key`."""
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key), _valid(func.now())))


def _now(session: Session) -> datetime:
    # The database's clock: the one LOOKUP_SQL compares expiry dates with.
    return session.scalar(select(func.now()))


def create_key(session: Session, *, role: Role, name: str, tenant: str | None = None,
               expires_at: datetime | None = None) -> str:
    """Store a new key for `name` and return the secret; it cannot be read back later.

    An upstream key's tenant defaults to its name. A name stands for one person or system in the
    audit trail, so a second valid key under a name is refused: rotate it instead."""
    role = Role(role)
    if not name.strip():
        raise Invalid("a key needs a name")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name, _valid(func.now())).limit(1)):
        raise Conflict(f"{name} already has a valid key: rotate it (vigil keys rotate {name}) or revoke it first")
    if expires_at is not None and expires_at <= _now(session):
        raise Invalid(f"the expiry date {expires_at:%Y-%m-%d %H:%M %Z} is already past")
    if tenant is None and role == Role.UPSTREAM:
        tenant = name
    key = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, role=role, key_hash=digest(key), key_prefix=key_prefix(key), tenant=tenant,
                       expires_at=expires_at))
    session.flush()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name, ApiKey.created_at)))


def state(stored: ApiKey, *, now: datetime) -> str:
    if stored.revoked_at is not None and stored.revoked_at <= now:
        return "revoked"
    if stored.expires_at is not None and stored.expires_at <= now:
        return "expired"
    return "valid"


def resolve(session: Session, ref: str) -> list[ApiKey]:
    """The keys `ref` names: every key of a name, or the one key whose prefix starts with `ref`.

    A prefix is written as `keys list` shows it (with or without `vgl_` and the trailing `…`)."""
    by_name = list(session.scalars(select(ApiKey).where(ApiKey.name == ref).order_by(ApiKey.created_at)))
    prefix = ref.removeprefix(PREFIX).rstrip("…")
    by_prefix = []
    if len(prefix) >= 4 and prefix.isascii():  # shorter prefixes name too many keys to be meant
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        by_prefix = list(session.scalars(select(ApiKey).where(ApiKey.key_prefix.like(pattern))))
    if by_name and by_prefix and {k.id for k in by_prefix} - {k.id for k in by_name}:
        raise Conflict(f"{ref!r} is both a key name and the prefix of another key: give a longer prefix")
    if by_name:
        return by_name
    if len(by_prefix) > 1:
        names = ", ".join(f"{shown_prefix(k)} ({k.name})" for k in by_prefix)
        raise Conflict(f"the prefix {ref!r} matches {len(by_prefix)} keys: {names}; give more of it")
    if not by_prefix:
        raise NotFound(f"no key is named {ref!r} or has a prefix starting with it")
    return by_prefix


def _notify_ended(session: Session, keys: list[ApiKey]) -> None:
    for stored in keys:
        session.execute(text("SELECT pg_notify(:channel, :digest)"), {"channel": KEYS_CHANNEL, "digest": stored.key_hash})


def revoke(session: Session, *, ref: str) -> tuple[list[ApiKey], list[ApiKey]]:
    """Revoke the keys `ref` names; returns (revoked now, revoked before): revoking twice is harmless."""
    keys = resolve(session, ref)
    now = _now(session)
    before = [k for k in keys if k.revoked_at is not None]
    now_revoked = [k for k in keys if k.revoked_at is None]
    for stored in now_revoked:
        stored.revoked_at = now
    _notify_ended(session, now_revoked)
    session.flush()
    return now_revoked, before


class Rotation(NamedTuple):
    key: str
    new: ApiKey
    old: list[ApiKey]
    old_valid_until: datetime


def rotate(session: Session, *, ref: str, grace: timedelta = timedelta(0), expires_at: datetime | None = None) -> Rotation:
    """A new key for the same name, role and tenant; the name's valid keys end now or after `grace`.

    Without `expires_at`, a key that had a lifetime gets the same lifetime again from now."""
    now = _now(session)
    old = [k for k in resolve(session, ref) if state(k, now=now) == "valid"]
    if not old:
        raise NotFound(f"{ref!r} has no valid key to rotate: create one (vigil keys create)")
    if len({k.name for k in old}) > 1:
        raise Conflict(f"{ref!r} names keys of several people: rotate by name")
    newest = old[-1]
    if expires_at is None and newest.expires_at is not None:
        expires_at = now + (newest.expires_at - newest.created_at)
    if grace < timedelta(0):
        raise Invalid("the grace period cannot be negative")
    until = now + grace
    for stored in old:
        if grace:
            stored.expires_at = min(stored.expires_at or until, until)
        else:
            stored.revoked_at = now
    _notify_ended(session, old)
    session.flush()
    key = PREFIX + secrets.token_urlsafe(32)
    new = ApiKey(name=newest.name, role=newest.role, key_hash=digest(key), key_prefix=key_prefix(key),
                 tenant=newest.tenant, expires_at=expires_at)
    session.add(new)
    session.flush()
    return Rotation(key=key, new=new, old=old, old_valid_until=until)


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str) -> timedelta:
    """`90d`, `12h`, `30m`, `2w`, `45s` or `0`."""
    if value.strip() == "0":
        return timedelta(0)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration like 90d, 12h, 30m, 2w or 0")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def parse_expiry(value: str, *, now: datetime | None = None) -> datetime:
    """A duration from now (`90d`) or a date (`2027-01-01`, midnight UTC) or an ISO date and time."""
    now = now or datetime.now(UTC)
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is neither a duration like 90d nor a date like 2027-01-01") from None
    if len(value.strip()) == 10:  # a bare date: the start of that day
        moment = datetime.combine(moment.date(), time(0))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
