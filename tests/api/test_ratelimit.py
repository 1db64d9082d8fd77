"""The rate-limit middleware on a tiny app over ASGI: which requests get 429, and when they pass again."""

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.api.ratelimit import RateLimit, charge_failed_auth
from shared.settings import Settings

GOOD = "vgl_good"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tiny_app(calls: list[str]) -> Starlette:
    """Answers 200 to the good key (or no key), 401 to any other key and charges it, as the auth code will."""

    async def hello(request: Request) -> JSONResponse:
        key = request.headers.get("x-api-key")
        calls.append(key)
        if key not in (None, GOOD):
            charge_failed_auth(request.scope)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"hello": True})

    def hello_from_a_thread(request: Request) -> JSONResponse:  # a sync endpoint runs in the thread pool
        charge_failed_auth(request.scope)
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    return Starlette(routes=[Route("/v1/hello", hello), Route("/", hello), Route("/sync", hello_from_a_thread), Route("/health", hello)])


@pytest.fixture
def limited():
    clock, calls = Clock(), []

    def make(**limits) -> tuple[httpx.AsyncClient, RateLimit]:
        settings = Settings(_env_file=None, **{"rate_limit_max_buckets": 1000, **limits})
        limiter = RateLimit(tiny_app(calls), settings=settings, clock=clock, exempt_paths=("/health",))
        return limiter

    def client(limiter: RateLimit, address: str = "10.0.0.1") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(limiter, client=(address, 1234)), base_url="http://api")

    return make, client, clock, calls


def statuses(client: httpx.AsyncClient, n: int, path: str = "/v1/hello", **options) -> list[int]:
    async def go():
        return [(await client.get(path, **options)).status_code for _ in range(n)]
    return asyncio.run(go())


def one(client: httpx.AsyncClient, path: str = "/v1/hello", **options) -> httpx.Response:
    return asyncio.run(client.get(path, **options))


def test_an_address_past_its_burst_gets_429_with_retry_after_and_passes_again_later(limited):
    make, client, clock, _ = limited
    limiter = make(rate_limit_per_address=2, rate_limit_per_address_burst=3)
    api = client(limiter)
    assert statuses(api, 3, headers={"X-API-Key": GOOD}) == [200, 200, 200]
    refused = one(api, headers={"X-API-Key": GOOD})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.json() == {"error": "rate_limited", "message": "too many requests from your address"}
    assert one(client(limiter, "10.0.0.2"), headers={"X-API-Key": "vgl_other"}).status_code == 401  # another address
    clock.now += 1.0  # two tokens back
    assert statuses(api, 3, headers={"X-API-Key": GOOD}) == [200, 200, 429]


def test_a_key_is_limited_across_addresses_and_retry_after_is_whole_seconds(limited):
    make, client, clock, _ = limited
    limiter = make(rate_limit_per_key=0.25, rate_limit_per_key_burst=2)
    assert one(client(limiter, "10.0.0.1"), headers={"X-API-Key": GOOD}).status_code == 200
    assert one(client(limiter, "10.0.0.2"), headers={"X-API-Key": GOOD}).status_code == 200
    refused = one(client(limiter, "10.0.0.3"), headers={"X-API-Key": GOOD})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "4"
    assert "this API key" in refused.json()["message"]
    assert one(client(limiter, "10.0.0.3"), headers={"X-API-Key": "vgl_someone_else"}).status_code == 401


def test_junk_keys_are_throttled_before_they_reach_the_app_and_good_keys_still_pass(limited):
    make, client, clock, calls = limited
    limiter = make(rate_limit_unauthenticated=1, rate_limit_unauthenticated_burst=5)
    api = client(limiter)
    assert one(api, headers={"X-API-Key": GOOD}).status_code == 200  # a key that worked from here before
    codes = [one(api, headers={"X-API-Key": f"vgl_junk{n}"}).status_code for n in range(10)]
    assert codes == [401] * 5 + [429] * 5
    assert len(calls) == 6  # the refused junk never reached the app (no lookup)
    refused = one(api, headers={"X-API-Key": "vgl_junk0"})  # a key that failed stays suspect
    assert refused.status_code == 429 and "failed authentications" in refused.json()["message"]
    assert one(api, headers={"X-API-Key": GOOD}).status_code == 200
    assert one(client(limiter, "10.0.0.9"), headers={"X-API-Key": "vgl_junk1"}).status_code == 401  # elsewhere
    clock.now += 1.0
    assert one(api, headers={"X-API-Key": "vgl_junk99"}).status_code == 401


def test_api_calls_without_a_key_share_the_unauthenticated_budget_the_page_and_exempt_paths_do_not(limited):
    make, client, clock, _ = limited
    limiter = make(rate_limit_unauthenticated=1, rate_limit_unauthenticated_burst=2)
    api = client(limiter)
    assert statuses(api, 3) == [200, 200, 429]
    assert statuses(api, 3, path="/health") == [200, 200, 200]
    assert statuses(api, 3, path="/") == [200, 200, 200]  # the page and its files need no key


def test_a_failure_charged_from_a_worker_thread_counts(limited):
    make, client, clock, _ = limited
    limiter = make(rate_limit_unauthenticated=1, rate_limit_unauthenticated_burst=2)
    api = client(limiter)
    assert statuses(api, 2, path="/sync", headers={"X-API-Key": "vgl_x"}) == [401, 401]
    assert one(api, headers={"X-API-Key": "vgl_y"}).status_code == 429


def test_memory_stays_bounded_and_idle_buckets_are_forgotten(limited):
    make, client, clock, _ = limited
    limiter = make(rate_limit_max_buckets=100, rate_limit_per_address=10, rate_limit_per_address_burst=20,
                   rate_limit_per_key=0)

    async def many():
        for n in range(300):
            async with client(limiter, f"10.1.{n // 250}.{n % 250}") as api:
                assert (await api.get("/", headers={"X-API-Key": GOOD})).status_code == 200
    asyncio.run(many())
    assert len(limiter.addresses) <= 100
    clock.now += 2.0  # every bucket is full again: remembering it would change nothing
    one(client(limiter, "10.9.9.9"), headers={"X-API-Key": GOOD})
    one(client(limiter, "10.9.9.8"), headers={"X-API-Key": GOOD})
    assert len(limiter.addresses) < 100


def test_a_rate_of_zero_turns_a_limit_off(limited):
    make, client, clock, _ = limited
    limiter = make(rate_limit_per_address=0, rate_limit_per_key=0, rate_limit_unauthenticated=0)
    assert set(statuses(client(limiter), 50, headers={"X-API-Key": "vgl_junk"})) == {401}
