import httpx
import pytest

from demo.stack import Stack
from tests.support.processes import free_port


@pytest.fixture(scope="module")
def stack(settings, platform):
    """api, relay, worker and dispatcher as real processes next to the demo platform."""
    stack = Stack(settings, api_port=free_port())
    try:
        stack.start_api()
        stack.start_relay()
        stack.start_worker(threads=2)
        stack.start_dispatcher()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def api(stack, keys):
    """An HTTP client per person: api("mod-ana").post(...)."""
    clients: list[httpx.Client] = []

    def client_for(name: str) -> httpx.Client:
        client = httpx.Client(base_url=stack.api_url, headers={"X-API-Key": keys[name]}, timeout=10)
        clients.append(client)
        return client

    yield client_for
    for client in clients:
        client.close()
