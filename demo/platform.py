"""The demo platform: a small real service with the platform endpoints Vigil acts on.

It keeps content and user state, honours `Idempotency-Key` (the same key replays the first
answer without a second effect) and logs every call it receives, so the demo and the tests can
check the final state and count duplicate effects. `/_admin` holds the hooks tests use: reset,
injected faults and the count of effective calls.

Each action call carries a signed JSON body (the tenant, case, round and decision behind it):
once `/_admin/platform-secret` is given, a call without a good signature is refused with 401.
`/_admin/replies` makes it confirm as other platforms do (204 and no body, or a text `OK`), and a
fault can carry a `Retry-After`.

It is also a subscriber to Vigil's callbacks: `POST /callbacks` checks each one's signature and
timestamp (`shared.signing`, with the secret given to `/_admin/callback-secret`), refuses a bad
one with 401 and keeps the good ones, which `GET /callbacks` lists.
"""

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, model_validator

from shared import signing

log = logging.getLogger(__name__)

EFFECTS = {
    ("content", "remove"): lambda item: item.update(visible=False),
    ("content", "restore"): lambda item: item.update(visible=True),
    ("users", "ban"): lambda item: item.update(banned=True),
    ("users", "unban"): lambda item: item.update(banned=False),
    ("users", "warn"): lambda item: item.update(warnings=item["warnings"] + 1),
    ("users", "retract_warning"): lambda item: item.update(warnings=item["warnings"] - 1),
}


class Fault(BaseModel):
    status: int = Field(description="an error status (400-599) to answer with; 0 clears the fault")
    count: int | None = Field(default=None, ge=1, description="for the next N action calls")
    seconds: float | None = Field(default=None, gt=0, description="for S seconds; with neither, until cleared")
    retry_after: int | None = Field(default=None, ge=0, description="a Retry-After header (seconds) with it")

    @model_validator(mode="after")
    def _one_limit(self) -> "Fault":
        if self.status != 0 and not 400 <= self.status <= 599:
            raise ValueError("status must be 0 (clear) or an error status between 400 and 599")
        if self.count is not None and self.seconds is not None:
            raise ValueError("give count or seconds, not both")
        return self


def raw_id(request: Request, *, segments: int) -> str | None:
    """The id in the second segment of the path as the client wrote it, percent-decoded once.

    Routing on the decoded path would let an id's encoded `/` split it in two; the raw path keeps
    `a%2Fb` one segment. None when the raw path has another number of segments (an unencoded `/`)."""
    parts = request.scope["raw_path"].split(b"/")
    if len(parts) != segments + 1 or parts[0] != b"":
        return None
    return unquote(parts[2].decode("latin-1"))


def _not_one_segment() -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": "an id is one path segment: percent-encode its /"},
                        status_code=404)


class CallbackSecret(BaseModel):
    secret: str = Field(min_length=16, description="the secret the platform's webhook was registered with")


class Replies(BaseModel):
    style: Literal["json", "empty", "text"] = Field(
        description="how a success is confirmed: the item as JSON (200), 204 with no body, or 200 with the text OK")


class PlatformState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.callback_secret: str | None = None  # configuration: a reset keeps it
        self.platform_secret: str | None = None  # checks the signature of action calls, once given
        self.reset()

    def reset(self) -> None:
        self.content: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.replies: dict[str, tuple[str, int, dict]] = {}  # idempotency key → (operation, status, body)
        self.calls: list[dict] = []
        self.effects: dict[str, Counter] = defaultdict(Counter)
        self.fault: Fault | None = None
        self.fault_until = 0.0
        self.callbacks: list[dict] = []
        self.style = "json"

    def _store(self, kind: str) -> dict[str, dict]:
        return self.content if kind == "content" else self.users

    @staticmethod
    def _unknown(kind: str, item_id: str) -> dict:
        # Unknown content is visible; an unknown user is not banned and has no warning.
        return {"id": item_id, "visible": True} if kind == "content" else {"id": item_id, "banned": False, "warnings": 0}

    def item(self, kind: str, item_id: str) -> dict:
        return self._store(kind).setdefault(item_id, self._unknown(kind, item_id))

    def peek(self, kind: str, item_id: str) -> dict:
        return dict(self._store(kind).get(item_id) or self._unknown(kind, item_id))

    def faulted(self) -> Fault | None:
        fault = self.fault
        if fault is None or fault.status == 0:
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self.fault = None
            return fault
        if fault.seconds is None or time.monotonic() < self.fault_until:
            return fault
        self.fault = None
        return None


def create_app() -> FastAPI:
    app = FastAPI(title="Vigil demo platform")
    state = PlatformState()

    def act(kind: str, action: str, item_id: str, key: str | None, raw: bytes, headers) -> Response:
        with state.lock:
            operation = f"{kind}/{item_id}/{action}"
            entry = {"at": datetime.now(UTC).isoformat(), "method": "POST", "path": f"/{operation}", "action": action,
                     "target_id": item_id, "idempotency_key": key, "replayed": False,
                     "signed": headers.get(signing.SIGNATURE_HEADER) is not None, "body": _json(raw)}
            state.calls.append(entry)
            status, body = _checked(raw, headers) or _answer(kind, action, item_id, key, operation, entry)
            entry["status"] = status
            return _reply(status, body)

    def _checked(raw: bytes, headers) -> tuple[int, dict] | None:
        """A 401 for a call whose signature does not hold, once this platform has a secret."""
        if state.platform_secret is None:
            return None
        try:
            signing.verify(secret=state.platform_secret, body=raw, timestamp=headers.get(signing.TIMESTAMP_HEADER),
                           signature_header=headers.get(signing.SIGNATURE_HEADER))
        except signing.SignatureError as error:
            return 401, {"error": "bad_signature", "message": str(error)}
        return None

    def _reply(status: int, body: dict) -> Response:
        if status == 200 and state.style == "empty":
            return Response(status_code=204)
        if status == 200 and state.style == "text":
            return PlainTextResponse("OK")
        wait = body.get("retry_after") if body.get("error") == "injected_fault" else None
        return JSONResponse(body, status_code=status, headers=None if wait is None else {"Retry-After": str(wait)})

    def _answer(kind: str, action: str, item_id: str, key: str | None, operation: str, entry: dict) -> tuple[int, dict]:
        if not key:
            return 400, {"error": "missing_idempotency_key", "message": "the Idempotency-Key header is required"}
        if (injected := state.faulted()) is not None:
            return injected.status, {"error": "injected_fault", "message": f"injected fault {injected.status}",
                                     "retry_after": injected.retry_after}
        if key in state.replies:
            first_operation, status, body = state.replies[key]
            if first_operation != operation:
                return 422, {"error": "key_reused", "message": f"key was used for {first_operation}"}
            entry["replayed"] = True
            return status, body
        item = state.item(kind, item_id)
        if action == "retract_warning" and item["warnings"] == 0:
            status, body = 422, {"error": "no_warning", "message": f"user {item_id} has no warning to retract"}
        else:
            EFFECTS[(kind, action)](item)
            state.effects[f"{kind}/{item_id}"][action] += 1
            status, body = 200, dict(item)
        state.replies[key] = (operation, status, body)
        return status, body

    def action_endpoint(kind: str, action: str):
        # A closure per route: default arguments would turn kind and action into query parameters.
        async def endpoint(request: Request, idempotency_key: str | None = Header(default=None)) -> Response:
            item_id = raw_id(request, segments=3)
            if item_id is None:
                return _not_one_segment()
            return act(kind, action, item_id, idempotency_key, await request.body(), request.headers)

        return endpoint

    for kind, action in EFFECTS:
        # `:path` lets an id with an encoded `/` reach the endpoint, which reads it from the raw path.
        app.add_api_route(f"/{kind}/{{item_id:path}}/{action}", action_endpoint(kind, action), methods=["POST"],
                          name=f"{action} {kind}")

    def read(kind: str):
        def endpoint(request: Request) -> JSONResponse:
            if (item_id := raw_id(request, segments=2)) is None:
                return _not_one_segment()
            with state.lock:
                return JSONResponse(state.peek(kind, item_id))

        return endpoint

    for kind in ("content", "users"):
        app.add_api_route(f"/{kind}/{{item_id:path}}", read(kind), methods=["GET"], name=f"read {kind}")

    @app.post("/callbacks")
    async def callback(request: Request) -> JSONResponse:
        raw = await request.body()  # the signature is over these bytes, before any parsing
        headers = request.headers
        try:
            if state.callback_secret is None:
                raise signing.SignatureError("no callback secret is configured here")
            signing.verify(secret=state.callback_secret, body=raw, timestamp=headers.get(signing.TIMESTAMP_HEADER),
                           signature_header=headers.get(signing.SIGNATURE_HEADER))
            body = json.loads(raw)
        except (signing.SignatureError, ValueError) as error:
            log.warning("callback refused: %s", error)
            return JSONResponse({"error": "bad_signature", "message": str(error)}, status_code=401)
        kept = {"received_at": datetime.now(UTC).isoformat(), "body": body,
                "headers": {name: headers.get(name) for name in (
                    "content-type", signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER, signing.EVENT_ID_HEADER)
                    if headers.get(name) is not None}}
        with state.lock:
            state.callbacks.append(kept)
        return JSONResponse({"received": True})

    @app.get("/callbacks")
    def callbacks(case_id: str | None = None) -> list[dict]:
        """Every callback that passed the signature check, in arrival order (of one case, if given)."""
        with state.lock:
            return [kept for kept in state.callbacks if case_id is None or kept["body"].get("case_id") == case_id]

    @app.post("/_admin/callback-secret")
    def callback_secret(secret: CallbackSecret) -> dict:
        with state.lock:
            state.callback_secret = secret.secret
        return {"configured": True}

    @app.post("/_admin/platform-secret")
    def platform_secret(secret: CallbackSecret) -> dict:
        """From now on an action call must be signed with this secret (Vigil's connection secret)."""
        with state.lock:
            state.platform_secret = secret.secret
        return {"configured": True}

    @app.post("/_admin/replies")
    def replies(replies: Replies) -> dict:
        with state.lock:
            state.style = replies.style
        return replies.model_dump()

    @app.get("/calls")
    def calls() -> list[dict]:
        with state.lock:
            return list(state.calls)

    @app.post("/_admin/reset")
    def reset() -> dict:
        with state.lock:
            state.reset()
        return {"reset": True}

    @app.post("/_admin/faults")
    def faults(fault: Fault) -> dict:
        with state.lock:
            state.fault = None if fault.status == 0 else fault
            state.fault_until = time.monotonic() + (fault.seconds or 0)
        return fault.model_dump()

    @app.get("/_admin/effects")
    def effects() -> dict:
        with state.lock:
            return {target: dict(counts) for target, counts in state.effects.items()}

    return app


def _json(raw: bytes) -> dict | None:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def run(*, host: str, port: int) -> None:
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
