"""API keys: random secrets shown once, stored as digests, looked up by digest."""

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import Role
from shared.models import ApiKey

PREFIX = "vgl_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, role: Role, name: str) -> str:
    """Store a new key for `name` and return the secret; it cannot be read back later."""
    key = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, role=Role(role), key_hash=digest(key)))
    return key


def find_key(session: Session, key: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key), ApiKey.revoked_at.is_(None)))
