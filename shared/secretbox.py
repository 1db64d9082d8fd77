"""Secrets at rest: AES-256-GCM under keys from the environment, never a key in the database.

SECRET_KEYS is a comma-separated list of base64 keys of 32 bytes (`vigil connections new-key`
prints one). The first encrypts; every one decrypts. A sealed value is
`v1 | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag`, bound to what it belongs to (the
associated data, e.g. the tenant), so a ciphertext copied onto another row does not open. Rotation:
put the new key first, keep the old one after it, run `vigil connections reencrypt`, then drop the old.
"""

import base64
import binascii
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"v1"
KEY_BYTES = 32
_ID_BYTES, _NONCE_BYTES = 4, 12


class SecretsUnavailable(ValueError):
    """No key is configured, a key is malformed, or a sealed value opens under none of the keys."""


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_ID_BYTES]


def parse_keys(value: str | None) -> list[bytes]:
    keys = []
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        try:
            key = base64.b64decode(part, validate=True)
        except binascii.Error:
            raise SecretsUnavailable("SECRET_KEYS: each key is base64 (`vigil connections new-key` prints one)") from None
        if len(key) != KEY_BYTES:
            raise SecretsUnavailable(f"SECRET_KEYS: each key is {KEY_BYTES} bytes, one is {len(key)}")
        keys.append(key)
    return keys


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        self._keys = {_key_id(key): AESGCM(key) for key in keys}
        self._current = _key_id(keys[0]) if keys else None

    @classmethod
    def of(cls, value: str | None) -> "SecretBox":
        return cls(parse_keys(value))

    def seal(self, plain: str, *, context: str) -> bytes:
        if self._current is None:
            raise SecretsUnavailable("storing a secret needs SECRET_KEYS (`vigil connections new-key` prints a key)")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plain.encode(), context.encode())
        return VERSION + self._current + nonce + sealed

    def open(self, sealed: bytes, *, context: str) -> str:
        sealed = bytes(sealed)
        key_id, nonce = sealed[2:2 + _ID_BYTES], sealed[2 + _ID_BYTES:2 + _ID_BYTES + _NONCE_BYTES]
        aead = self._keys.get(key_id)
        if not sealed.startswith(VERSION) or aead is None:
            raise SecretsUnavailable("a stored secret was sealed under a key that SECRET_KEYS does not hold")
        try:
            return aead.decrypt(nonce, sealed[2 + _ID_BYTES + _NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise SecretsUnavailable("a stored secret does not open: altered, or moved from another row") from None

    def is_current(self, sealed: bytes) -> bool:
        return bytes(sealed)[2:2 + _ID_BYTES] == self._current
