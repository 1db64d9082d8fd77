"""Dependencies: a session per request, and the caller identified by their API key."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from shared.domain import Role
from shared.errors import Forbidden, Unauthorized
from shared.keys import find_key
from shared.settings import Settings


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(session: SessionDep, x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    if not x_api_key:
        raise Unauthorized("missing X-API-Key header")
    key = find_key(session, x_api_key)
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(name=key.name, role=Role(key.role))


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            allowed = ", ".join(roles)
            raise Forbidden(f"this call needs the role {allowed}; your key has the role {user.role}")
        return user

    return check


Upstream = Annotated[Principal, Depends(require(Role.UPSTREAM, Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.MODERATOR, Role.SUPERVISOR, Role.ADMIN))]
Reviewer = Annotated[Principal, Depends(require(Role.MODERATOR, Role.SUPERVISOR))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
