"""The upstream platform's action endpoints, called over HTTP with an Idempotency-Key."""

import logging
from urllib.parse import quote

import httpx
from tenacity import retry_if_exception_type, stop_after_attempt, wait_exponential_jitter, Retrying

from shared.domain import ACTION_TARGET, ActionKind

log = logging.getLogger(__name__)


class PlatformRefused(Exception):
    """The platform answered 4xx: asking again with the same request will not change its mind."""

    def __init__(self, status_code: int, body: str) -> None:
        super().__init__(f"platform refused with {status_code}: {body[:300]}")
        self.status_code = status_code


class PlatformUnavailable(Exception):
    """The platform did not confirm (5xx, 429, timeout, connection error): the call may be retried."""


def path_segment(value: str) -> str:
    """`value` as one path segment that no character of it can leave or reshape.

    quote() with no safe characters escapes `/`, `%`, `?` and `#` but leaves `.` alone, and HTTP
    clients (httpx among them) collapse `.` and `..` segments: an id of `..` would turn
    `/users/../ban` into `/ban`. Every dot is escaped too; the platform decodes `%2E` to `.` once."""
    return quote(value, safe="").replace(".", "%2E")


class PlatformClient:
    def __init__(self, *, base_url: str, timeout: float, retries: int, retry_wait: float) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._retrying = Retrying(
            retry=retry_if_exception_type(PlatformUnavailable),
            stop=stop_after_attempt(retries),
            wait=wait_exponential_jitter(multiplier=retry_wait, max=5 * retry_wait + 1),
            reraise=True,
        )

    def perform(self, *, kind: ActionKind, target_id: str, idempotency_key: str) -> dict:
        """Run one action; the same key makes a repeated call harmless on the platform's side."""
        path = f"/{ACTION_TARGET[kind]}/{path_segment(target_id)}/{kind}"
        return self._retrying(self._post, path, idempotency_key)

    def _post(self, path: str, idempotency_key: str) -> dict:
        try:
            response = self._http.post(path, headers={"Idempotency-Key": idempotency_key})
        except httpx.TransportError as error:
            raise PlatformUnavailable(f"{type(error).__name__} calling {path}: {error}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise PlatformUnavailable(f"platform answered {response.status_code} to {path}")
        if response.status_code >= 400:
            raise PlatformRefused(response.status_code, response.text)
        return response.json()

    def close(self) -> None:
        self._http.close()
