"""A local stand-in for the DSA Transparency Database's submission API, enforcing its documented
rules rather than accepting everything, so Vigil's statements are tested against what the
Commission's service would do (digital-services-act/transparency-database:
StatementMultipleAPIController, PlatformUniqueIdService, PuidNotUniqueMultipleException):

- `POST /api/v1/statements` wants `Authorization: Bearer <token>` of a known platform (401), a
  JSON object whose `statements` holds 1 to 100 statements (422), each valid in the database's
  schema and enumerations (`shared.dsa.problems`, which mirror its StatementStoreRequest; 422
  with the problems per statement), and puids unique in the call and never used before by that
  platform (422 `{"message", "errors": {"puid": [...], "existing_puids": [...]}}`). All or none:
  a refused call stores nothing. Otherwise 201 `{"statements": [... with uuid and permalink]}`.
- `/_admin` holds the tests' hooks: tokens of platforms, answers lost after storing (a 504 from
  a gateway, as if the connection dropped), a delay before answering, what was stored and every
  call received.
"""

import asyncio
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared import dsa

BATCH = (1, 100)
NOT_UNIQUE = "The platform identifier(s) are not all unique within this call."


class Token(BaseModel):
    token: str = Field(min_length=16)
    platform: str = Field(min_length=1)


class Trouble(BaseModel):
    count: int = Field(default=1, ge=1, description="for the next N calls that store statements")
    seconds: float = Field(default=0.0, ge=0, description="wait this long before answering (delay)")


class Database:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}  # token → platform (configuration: a reset keeps it)
        self.reset()

    def reset(self) -> None:
        self.stored: list[dict] = []  # {"platform", "puid", "uuid", "statement", "stored_at"}
        self.puids: set[tuple[str, str]] = set()
        self.calls: list[dict] = []  # {"platform", "status", "puids"}
        self.lose = 0
        self.delays: list[float] = []

    def submit(self, platform: str, statements: list[dict]) -> tuple[int, dict]:
        """All or none, as the database's bulk insert."""
        puids = [s.get("puid") for s in statements]
        problems = {f"statement_{n}": found for n, s in enumerate(statements) if (found := dsa.problems(s))}
        if problems:
            return 422, {"message": "The given data was invalid.", "errors": problems}
        with self.lock:
            repeated = [puid for puid, n in Counter(puids).items() if n > 1]
            existing = repeated or [puid for puid in puids if (platform, puid) in self.puids]
            if existing:
                return 422, {"message": NOT_UNIQUE, "errors": {"puid": [NOT_UNIQUE], "existing_puids": existing}}
            created = []
            for statement in statements:
                record = {"platform": platform, "puid": statement["puid"], "uuid": str(uuid.uuid4()),
                          "statement": statement, "stored_at": datetime.now(UTC).isoformat()}
                self.stored.append(record)
                self.puids.add((platform, statement["puid"]))
                created.append(statement | {"uuid": record["uuid"], "permalink": f"/statement/{record['uuid']}",
                                            "self": f"/api/v1/statement/{record['uuid']}"})
            return 201, {"statements": created}


def create_app() -> FastAPI:
    app = FastAPI(title="DSA Transparency Database (stand-in)")
    db = Database()

    @app.post("/api/v1/statements")
    async def statements(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        platform = db.tokens.get(authorization.removeprefix("Bearer ")) if authorization.startswith("Bearer ") else None
        if platform is None:
            return JSONResponse({"message": "Unauthenticated."}, status_code=401)
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"message": "The body is not JSON."}, status_code=400)
        batch = payload.get("statements") if isinstance(payload, dict) else None
        if not isinstance(batch, list) or not BATCH[0] <= len(batch) <= BATCH[1] or not all(
                isinstance(one, dict) for one in batch):
            message = f"The statements field must be an array of {BATCH[0]} to {BATCH[1]} statements."
            return JSONResponse({"message": message, "errors": {"statements": [message]}}, status_code=422)
        status, answer = db.submit(platform, batch)
        with db.lock:
            db.calls.append({"platform": platform, "status": status, "puids": [s.get("puid") for s in batch]})
            lost = status == 201 and db.lose > 0
            db.lose -= lost
            delay = db.delays.pop(0) if status == 201 and db.delays else 0.0
        if delay:
            await asyncio.sleep(delay)
        if lost:
            return JSONResponse({"message": "Gateway Timeout"}, status_code=504)
        return JSONResponse(answer, status_code=status)

    @app.post("/_admin/tokens")
    def token(given: Token) -> dict:
        db.tokens[given.token] = given.platform
        return {"platforms": sorted(set(db.tokens.values()))}

    @app.post("/_admin/lose")
    def lose(trouble: Trouble) -> dict:
        """The next N calls that store statements answer 504 after storing them (the answer is lost)."""
        with db.lock:
            db.lose = trouble.count
        return {"lose": db.lose}

    @app.post("/_admin/delay")
    def delay(trouble: Trouble) -> dict:
        """The next N calls that store statements wait `seconds` after storing, before answering."""
        with db.lock:
            db.delays = [trouble.seconds] * trouble.count
        return {"delays": db.delays}

    @app.get("/_admin/stored")
    def stored() -> list[dict]:
        with db.lock:
            return list(db.stored)

    @app.get("/_admin/calls")
    def calls() -> list[dict]:
        with db.lock:
            return list(db.calls)

    @app.post("/_admin/reset")
    def reset() -> dict:
        with db.lock:
            db.reset()
        return {"reset": True}

    return app


def run(*, host: str, port: int) -> None:
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
