"""The review console and the API docs: static files served from the package, no build step and
no CDN. Only the files named here are served, so no path from a request reaches the file system."""

from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from shared.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC = Path(str(files("services.api") / "static"))
CONSOLE = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Swagger UI's own build, as the swagger-ui-py package ships it (found without importing it).
SWAGGER = Path(find_spec("swagger_ui").submodule_search_locations[0]) / "static"
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
# The console's assets change with each release: the browser asks again rather than run a stale script.
FRESH = {"Cache-Control": "no-cache"}


def _file(folder: Path, name: str, types: dict[str, str]) -> FileResponse:
    if name not in types:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(folder / name, media_type=types[name], headers=FRESH)


@router.get("/")
def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=FRESH)


@router.get("/docs")
def docs() -> FileResponse:
    return FileResponse(STATIC / "docs.html", media_type="text/html; charset=utf-8", headers=FRESH)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    return _file(STATIC, name, CONSOLE)


@router.get("/static/swagger/{name}")
def swagger(name: str) -> FileResponse:
    return _file(SWAGGER, name, SWAGGER_FILES)
