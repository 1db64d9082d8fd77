"""Errors become JSON answers here, at the edge: `{"error": code, "message": what is wrong}`."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
import psycopg
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import VigilError

log = logging.getLogger(__name__)
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited", 503: "unavailable"}


def _answer(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": CODES.get(status, "error"), "message": message, **extra}, status_code=status)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(VigilError)
    def vigil_error(request: Request, error: VigilError) -> JSONResponse:
        answer = _answer(error.status_code, error.message, **error.detail)
        if error.retry_after is not None:
            answer.headers["Retry-After"] = str(error.retry_after)
        return answer

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(part) for part in e["loc"]), "problem": _problem(e)} for e in error.errors()]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:5])
        return _answer(422, f"invalid request: {summary}", problems=problems)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI's answer to a body it cannot decode: invalid input too
            return _answer(422, f"invalid request: {error.detail}")
        return _answer(error.status_code, str(error.detail))

    @app.exception_handler(psycopg.DataError)
    def data_error(request: Request, error: psycopg.DataError) -> JSONResponse:
        return _answer(422, "a value was refused by the database: check lengths and characters")

    def database_down(request: Request, error: Exception) -> JSONResponse:
        log.warning("database unavailable: %s: %s", type(error).__name__, error)
        return _answer(503, "the database is unavailable; try again shortly")

    for unavailable in (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout):
        app.add_exception_handler(unavailable, database_down)


def _problem(error: dict) -> str:
    # A body that is not JSON (or has a key twice) says why, not only "JSON decode error".
    reason = (error.get("ctx") or {}).get("error")
    return f"{error['msg']}: {reason}" if error.get("type") == "json_invalid" and reason else error["msg"]


class BodyLimit:
    """Refuses bodies over the limit with 413, by Content-Length and by the bytes actually sent."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received, refused = 0, False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes and not refused:
                refused = True
                await self._refuse(scope, receive, send)
                return {"type": "http.disconnect"}  # the app stops reading; its own answer is dropped
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(413, f"request body is over {self.max_bytes} bytes")(scope, receive, send)
