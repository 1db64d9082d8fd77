"""Slow clients: a deadline for a request's headers (at the uvicorn protocol) and for its body
(an ASGI middleware), each answered with 408 and a closed connection.

uvicorn (h11 and httptools alike) has no header or body read timeout: `timeout_keep_alive` is
armed only after a response and cancelled by the first byte of the next request, and a fresh
connection has no timer at all, so a client sending a byte every 2 s holds a connection (and,
under `limit_concurrency`, a slot) for as long as it likes. Headers never reach the app until
they are complete, so their deadline must live in the protocol: `HttpToolsWithDeadlines` and
`H11WithDeadlines` are uvicorn's protocols plus a timer from the connection's start (or the end
of the previous response) to the end of the next request's headers. Pass one as
`uvicorn.run(..., http=HttpToolsWithDeadlines)`; module-level classes, so `workers>1` can import
them. In production a proxy in front (nginx `client_header_timeout`/`client_body_timeout`,
Envoy `request_headers_timeout`, HAProxy `timeout http-request`) buffers requests and does this
before a connection reaches Python; these deadlines are the api's own floor.
"""

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.settings import get_settings

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 26\r\nconnection: close\r\n\r\nrequest headers too slow\r\n"


class _HeaderDeadline:
    """Mixed into a uvicorn HTTP/1 protocol: headers complete within `header_timeout` or 408."""

    header_timeout: float | None = None  # None: the `header_timeout` setting

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.header_timeout is None:
            self.header_timeout = get_settings().header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._waiting_after = None  # the cycle (request) before the one whose headers we wait for

    def _arm_header_deadline(self) -> None:
        self._waiting_after = self.cycle
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._waiting_after:
            self._disarm_header_deadline()  # a new request's headers are complete

    def on_response_complete(self) -> None:
        finished = self.cycle
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is finished and self._header_timer is None:
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is self._waiting_after and not self.transport.is_closing():
            self.transport.write(_TIMED_OUT)
            self.transport.close()


class HttpToolsWithDeadlines(_HeaderDeadline, HttpToolsProtocol):
    pass


class H11WithDeadlines(_HeaderDeadline, H11Protocol):
    pass


class BodyDeadline:
    """`BodyDeadline(app, seconds=settings.body_timeout)`: the body must be read in full within
    `seconds` of its headers; otherwise the client gets 408 and the app sees a disconnect."""

    def __init__(self, app, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_read = started = answered = False

        async def timed_receive():
            nonlocal body_read, answered
            if body_read or answered:
                return await receive() if not answered else {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if not started:
                    answered = True
                    await _timed_out(send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def guarded_send(message) -> None:
            nonlocal started
            if answered:
                return  # the client already has its 408; whatever the app says now goes nowhere
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not answered:
                raise  # the app's own error; ours was answered already


async def _timed_out(send) -> None:
    body = b'{"error":"request_timeout","message":"the request body did not arrive in time"}'
    await send({"type": "http.response.start", "status": 408, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
