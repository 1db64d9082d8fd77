"""Reading the api the way a client pages through it."""

import httpx


def all_cases(client: httpx.Client, status: str) -> list[dict]:
    """Every case of a status, page by page; what was read so far if the api answers otherwise."""
    items, cursor = [], None
    while True:
        page = client.get("/v1/cases", params={"status": status, "limit": 100} | ({"cursor": cursor} if cursor else {}))
        if page.status_code != 200:
            return items  # e.g. 503 while Postgres is away: the caller polls again
        body = page.json()
        items += body["items"]
        if not (cursor := body["next"]):
            return items
