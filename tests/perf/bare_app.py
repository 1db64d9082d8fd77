"""The web stack's own ceiling: a bare FastAPI app answering a constant, served by the same
uvicorn stack as `vigil api` (uvloop, httptools, same process count)."""

from fastapi import FastAPI, status

app = FastAPI()
ANSWER = {"case_id": "00000000-0000-0000-0000-000000000000", "status": "received"}


@app.post("/v1/cases", status_code=status.HTTP_202_ACCEPTED)
async def create_case() -> dict:
    return ANSWER


@app.get("/v1/cases")
async def list_cases() -> dict:
    return {"items": [], "next": None}


@app.get("/v1/cases/{case_id}")
async def get_case(case_id: str) -> dict:
    return {**ANSWER, "case_id": case_id}


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
