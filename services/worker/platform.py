"""The upstream platform's action endpoints, called over HTTP: one signed call per action.

Each call is `POST /{content|users}/{id}/{action}` with an `Idempotency-Key` and a JSON body that
says who asks and why (the tenant, the case, its round, the decision it carries out), signed like
the callbacks (`shared.signing`) when the connection has a secret, so a platform can verify and
deduplicate what Vigil asks of it.

What an answer means:
- any 2xx confirms, whatever its body (none, text, JSON); a JSON body is kept on the action ledger;
- 408, 409 (the platform is still working on this key), 429 and 5xx, timeouts and connection errors
  are asked again, after the `Retry-After` the platform sent when it sent one;
- any other 4xx is a refusal: asking again with the same request will not change its mind.
"""

import json
import logging
import time
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from shared import signing
from shared.domain import ACTION_TARGET, ActionKind

log = logging.getLogger(__name__)

RETRIED = frozenset({408, 409, 429})
REVERSAL = "appeal"  # the decision a reversal carries out
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After waits this long, then the step's own retries take over
KEPT_TEXT = 2000  # characters of a text answer kept on the ledger

TENANT_HEADER = "X-Vigil-Tenant"
CASE_HEADER = "X-Vigil-Case"


class PlatformRefused(Exception):
    """The platform answered a 4xx that is final: the same request again will not change its mind."""

    def __init__(self, status_code: int, body: str, path: str) -> None:
        super().__init__(f"the platform refused {path} with {status_code}: {body[:300]}")
        self.status_code = status_code


class PlatformUnavailable(Exception):
    """The platform did not confirm (5xx, 408, 409, 429, timeout, connection error): ask again."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PlatformCall:
    """What one call asks and on whose behalf: the body the platform receives."""

    tenant: str
    case_id: str
    round: int
    decision: str  # the moderator's decision, or REVERSAL for an action undone on appeal
    action: ActionKind
    target_id: str
    idempotency_key: str
    reverses: str | None = None  # the idempotency key of the action this one undoes

    @property
    def path(self) -> str:
        return f"/{ACTION_TARGET[self.action]}/{path_segment(self.target_id)}/{self.action}"

    def body(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def path_segment(value: str) -> str:
    """`value` as one path segment that no character of it can leave or reshape.

    quote() with no safe characters escapes `/`, `%`, `?` and `#` but leaves `.` alone, and HTTP
    clients (httpx among them) collapse `.` and `..` segments: an id of `..` would turn
    `/users/../ban` into `/ban`. Every dot is escaped too; the platform decodes `%2E` to `.` once."""
    return quote(value, safe="").replace(".", "%2E")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), capped; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return None


def confirmation(response: httpx.Response) -> dict:
    """What a 2xx said, as kept on the ledger: its status and its body (JSON, text or none)."""
    body: object = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = response.text[:KEPT_TEXT]
    return {"status": response.status_code, "body": body}


class PlatformClient:
    """One platform connection: its base URL, its signing secret, its timeouts."""

    def __init__(self, *, base_url: str, timeout: float, retries: int, retry_wait: float,
                 secret: str | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._secret = secret
        backoff = wait_exponential_jitter(multiplier=retry_wait, max=5 * retry_wait + 1)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            asked = getattr(error, "retry_after", None)
            return asked if asked is not None else backoff(state)

        self._retrying = Retrying(retry=retry_if_exception_type(PlatformUnavailable), stop=stop_after_attempt(retries),
                                  wait=wait, reraise=True)

    def perform(self, call: PlatformCall) -> dict:
        """Run one action; its idempotency key makes a repeated call harmless on the platform's side."""
        return self._retrying(self._post, call)

    def _post(self, call: PlatformCall) -> dict:
        body = call.body()
        headers = {"Idempotency-Key": call.idempotency_key, "Content-Type": "application/json",
                   TENANT_HEADER: call.tenant, CASE_HEADER: call.case_id}
        if self._secret:
            headers |= signing.sign(secret=self._secret, body=body)
        try:
            response = self._http.post(call.path, content=body, headers=headers)
        except httpx.TransportError as error:
            raise PlatformUnavailable(f"{type(error).__name__} calling {call.path}: {error}") from error
        if response.is_success:
            return confirmation(response)
        if response.status_code in RETRIED or response.status_code >= 500:
            raise PlatformUnavailable(f"the platform answered {response.status_code} to {call.path}",
                                      retry_after=retry_after(response.headers.get("Retry-After")))
        raise PlatformRefused(response.status_code, response.text, call.path)

    def close(self) -> None:
        self._http.close()
