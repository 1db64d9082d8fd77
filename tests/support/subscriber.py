"""A real HTTP subscriber of callbacks in the test's process: uvicorn on a thread of its own,
recording every request it gets and answering as the test tells it (an error status, a pause
until released)."""

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

from tests.support.processes import free_port


@dataclass
class Received:
    body: dict
    raw: bytes
    headers: dict[str, str]
    status: int = 0  # what it was answered
    at: float = field(default_factory=time.monotonic)


class Subscriber:
    """`answer(received) -> status` decides each answer (200 by default); `hold()` makes requests
    wait until `release()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[Received] = []
        self.answer: Callable[[Received], int] = lambda received: 200
        self.waiting = 0  # requests held right now
        self._lock = threading.Lock()
        self._held = threading.Event()
        self._held.set()
        self._server = uvicorn.Server(uvicorn.Config(self._app, host="127.0.0.1", port=self.port, lifespan="off", interface="asgi3",
                                                     log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> "Subscriber":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the test subscriber did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.release()
        self._server.should_exit = True
        self._thread.join(10)

    def hold(self) -> None:
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def answered(self, status: int = 200) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == status]

    async def _app(self, scope, receive, send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        received = Received(body=json.loads(raw or b"null"), raw=raw, headers=headers)
        with self._lock:
            self.waiting += 1
        try:
            while not self._held.is_set():
                await asyncio.sleep(0.01)
        finally:
            with self._lock:
                self.waiting -= 1
        received.status = self.answer(received)
        with self._lock:
            self.received.append(received)
        await send({"type": "http.response.start", "status": received.status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok": true}' if received.status < 300 else b'{"error": "no"}'})
