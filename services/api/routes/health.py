"""Health: /healthz says the process is up, /readyz that the database answers."""

import psycopg
import psycopg_pool
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request):
    try:
        async with request.app.state.pool.connection() as conn:
            await conn.execute("SELECT 1")
    except (psycopg.Error, psycopg_pool.PoolTimeout):
        return JSONResponse({"error": "unavailable", "message": "the database does not answer"}, status_code=503)
    return {"status": "ready"}
