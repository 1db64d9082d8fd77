"""No quiet ambiguity: a JSON object with a key twice, a query parameter given twice or unknown to
the route, or a path with a trailing slash each has one meaning here, said out loud.

Python's json module keeps the last of two equal keys, so `{"text": "hello", "text": "<abuse>"}`
would have the second text analysed while a reviewer's tooling shows the first: refuse it.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import Invalid


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise json.JSONDecodeError(f"the key {twice!r} appears twice in one object", "", 0)
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


class StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = _DECODER.decode((await self.body()).decode())
        return self._json


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    return {field.alias for field in dependant.query_params}.union(*map(_query_names, dependant.dependencies))


class StrictRoute(APIRoute):
    """Routes whose bodies refuse duplicate keys and whose query parameters are known and given once:
    `?tenant=` on a route that has no such filter is a 422 naming it, not the whole list."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _query_names(self.dependant)

        async def strict_handler(request: Request) -> Response:
            names = [name for name, _ in request.query_params.multi_items()] if request.scope["query_string"] else []
            if unknown := sorted(set(names) - known):
                accepted = f"; this route takes {', '.join(sorted(known))}" if known else "; this route takes none"
                raise Invalid(f"unknown query parameter(s): {', '.join(unknown)}{accepted}")
            if len(names) != len(set(names)):
                twice = sorted({name for name in names if names.count(name) > 1})
                raise Invalid(f"query parameter(s) given more than once: {', '.join(twice)}")
            return await handler(StrictRequest(request.scope, request.receive))

        return strict_handler


class CanonicalPath:
    """`/v1/cases/` is answered as `/v1/cases`, never redirected: a redirect would be built from
    the request's Host header, which the client chooses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(path := scope["path"]) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)
