"""One POST to a subscriber, and what came of it: signed with the subscriber's secret, or, for the
DSA Transparency Database, with the secret as its Bearer token. Success is a 2xx within the
timeout; anything else (an error status, a refused connection, a time-out, a redirect) is a failed
attempt with a reason short enough to show an admin. The answer's first bytes come back too."""

import asyncio
import time
from dataclasses import dataclass

import httpx

from shared import signing

MAX_BODY_READ = 64 * 1024  # of a subscriber's answer: enough for an error message, never a flood
ERROR_SNIPPET = 300


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    seconds: float
    answer: bytes = b""


async def post(client: httpx.AsyncClient, *, url: str, secret: str, body: bytes, timeout: float,
               event_id: str | None = None, bearer: bool = False) -> Outcome:
    authorised = {"Authorization": f"Bearer {secret}", "Accept": "application/json"} if bearer else (
        signing.sign(secret=secret, body=body))
    headers = {"Content-Type": "application/json", **authorised}
    if event_id is not None:
        headers[signing.EVENT_ID_HEADER] = event_id
    started = time.monotonic()
    try:
        # The client's timeouts are per read; this bounds the whole exchange, a trickling answer too.
        async with asyncio.timeout(timeout):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                answer = await _read_some(response)
    except TimeoutError:
        return Outcome(False, None, f"timed out after {timeout:g}s", time.monotonic() - started)
    except httpx.TimeoutException as error:
        return Outcome(False, None, f"timed out ({type(error).__name__})", time.monotonic() - started)
    except httpx.HTTPError as error:
        return Outcome(False, None, f"{type(error).__name__}: {error}"[:ERROR_SNIPPET], time.monotonic() - started)
    seconds = time.monotonic() - started
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, None, seconds, answer)
    snippet = answer.decode(errors="replace").strip()[:ERROR_SNIPPET]
    return Outcome(False, response.status_code, f"HTTP {response.status_code}" + (f": {snippet}" if snippet else ""),
                   seconds, answer)


async def _read_some(response: httpx.Response) -> bytes:
    read = bytearray()
    async for chunk in response.aiter_raw():
        read += chunk
        if len(read) >= MAX_BODY_READ:
            break  # the rest is dropped with the connection
    return bytes(read)
