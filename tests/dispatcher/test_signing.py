"""Signatures: what a subscriber checks before believing a callback (shared/signing.py)."""

import pytest

from shared import signing

SECRET = "a-secret-of-thirty-two-characters"
BODY = b'{"id":"e-1","type":"case.closed","status":"closed"}'
NOW = 1_800_000_000


def check(*, body=BODY, secret=SECRET, headers=None, now=NOW, tolerance=300):
    headers = headers or signing.sign(secret=SECRET, body=BODY, now=NOW)
    return signing.verify(secret=secret, body=body, timestamp=headers.get(signing.TIMESTAMP_HEADER),
                          signature_header=headers.get(signing.SIGNATURE_HEADER), tolerance=tolerance, now=now)


def test_a_signed_body_verifies_and_the_signature_is_the_documented_hmac():
    import hashlib
    import hmac

    headers = signing.sign(secret=SECRET, body=BODY, now=NOW)
    assert headers[signing.TIMESTAMP_HEADER] == str(NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers[signing.SIGNATURE_HEADER] == f"sha256={expected}"
    assert check() == NOW


@pytest.mark.parametrize(("what", "kwargs"), [
    ("tampered body", {"body": BODY.replace(b"closed", b"opened")}),
    ("wrong secret", {"secret": "another-secret-of-thirty-two-chars"}),
    ("stale timestamp (a replay)", {"now": NOW + 301}),
    ("timestamp from the future", {"now": NOW - 301}),
    ("timestamp changed", {"headers": {**signing.sign(secret=SECRET, body=BODY, now=NOW),
                                       signing.TIMESTAMP_HEADER: str(NOW + 1)}}),
    ("no signature", {"headers": {signing.TIMESTAMP_HEADER: str(NOW)}}),
    ("not unix seconds", {"headers": {**signing.sign(secret=SECRET, body=BODY, now=NOW),
                                      signing.TIMESTAMP_HEADER: "1e9"}}),
    ("another scheme", {"headers": {**signing.sign(secret=SECRET, body=BODY, now=NOW),
                                    signing.SIGNATURE_HEADER: "sha1=00"}}),
])
def test_a_callback_that_must_not_be_believed_is_refused(what, kwargs):
    with pytest.raises(signing.SignatureError):
        check(**kwargs)


def test_a_timestamp_within_the_tolerance_is_accepted():
    assert check(now=NOW + 299) == NOW
    assert check(now=NOW + 30, tolerance=60) == NOW
