"""Slow clients against a real uvicorn: a byte every 2 s of headers or of body is cut off with 408."""

import select
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.api.slowclients import BodyDeadline, H11WithDeadlines, HttpToolsWithDeadlines
from tests.support.processes import free_port

DEADLINE = 3.0


class QuickHttpTools(HttpToolsWithDeadlines):
    header_timeout = DEADLINE


class QuickH11(H11WithDeadlines):
    header_timeout = DEADLINE


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"length": len(await request.body())})


@pytest.fixture(params=[QuickHttpTools, QuickH11], ids=["httptools", "h11"])
def server(request):
    port = free_port()
    app = BodyDeadline(Starlette(routes=[Route("/", echo, methods=["POST"])]), seconds=DEADLINE)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=request.param, log_level="warning",
                                           timeout_keep_alive=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def trickle(port: int, head: bytes, drip: bytes) -> tuple[bytes, int]:
    """Send `head` at once, then `drip` one byte every 2 s until the server answers or closes;
    return its answer and how many bytes of `drip` went out before."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head)
        sent = 0
        for byte in drip:
            if select.select([conn], [], [], 2)[0]:  # the server spoke (or closed) within 2 s
                break
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except OSError:
            pass
    return answer, sent


def test_a_body_sent_a_byte_every_two_seconds_is_cut_off_with_408(server):
    head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n\r\n"
    answer, sent = trickle(server, head, b"x" * 20)
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
    assert sent < 20  # cut off long before the body was complete


def test_headers_sent_a_byte_every_two_seconds_are_cut_off_with_408(server):
    answer, sent = trickle(server, b"POST / HTTP/1.1\r\n", b"host: example.org\r\ncontent-length: 0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 408")
    assert sent < 20


def test_a_prompt_client_keeps_its_connection_across_requests(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as conn:
        for _ in range(2):
            conn.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
            answer = conn.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"length":5}')
