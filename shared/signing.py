"""Signing callbacks, and checking a signature: the dispatcher signs, a subscriber (the demo
platform, or any platform in five lines of Python) verifies.

The signature is `sha256=<hex>`, the HMAC-SHA256 under the subscriber's secret of
`<timestamp>.<raw body>`, with the timestamp (unix seconds) sent beside it in `X-Vigil-Timestamp`.
Signing the timestamp with the body makes a captured callback worthless once it is older than the
tolerance: a replay is refused, and so is a body or a timestamp changed on the way.
"""

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
EVENT_ID_HEADER = "X-Vigil-Event-Id"
SCHEME = "sha256="
DEFAULT_TOLERANCE = 300.0  # seconds either side of the receiver's clock


class SignatureError(Exception):
    """A callback that must not be believed; the message says why (never the expected value)."""


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def sign(*, secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers that sign `body` now."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret=secret, timestamp=timestamp, body=body)}


def verify(*, secret: str, body: bytes, timestamp: str | None, signature_header: str | None,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> int:
    """Checks a callback's headers against its raw body; returns the timestamp, or raises
    SignatureError. Compare the raw bytes received, before any JSON parsing."""
    if not timestamp or not signature_header:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds")
    sent_at = int(timestamp)
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise SignatureError(f"{TIMESTAMP_HEADER} is outside the {tolerance:.0f}s tolerance: stale or replayed")
    expected = signature(secret=secret, timestamp=sent_at, body=body)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode(errors="replace")):
        raise SignatureError("signature does not match the body and timestamp")
    return sent_at
