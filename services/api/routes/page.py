"""The moderator page: static HTML that polls the API with the key the person enters."""

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def page() -> str:
    return (files("services.api") / "static" / "index.html").read_text()
