"""Dependencies: settings, a pooled connection, and the caller identified by their API key."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from shared.domain import Role
from shared.errors import BadRequest, Forbidden, Unauthorized
from shared.settings import Settings
from services.api.auth import Principal
from services.api.db import PoolDep
from services.api.ratelimit import charge_failed_auth

__all__ = ["Admin", "CurrentUser", "Overseer", "Principal", "PoolDep", "QaReviewer", "Reader", "Reviewer",
           "SettingsDep", "Staff", "Supervisor", "Upstream"]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


# Declared as a security scheme so the OpenAPI document says how every route authenticates (a
# client generator adds the header); the checks below read the header themselves.
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                       description="an API key (`vigil keys create`); its role and tenant decide what it may do")


async def current_principal(request: Request, pool: PoolDep, _declared: Annotated[str | None, Security(API_KEY)]
                            ) -> Principal:
    keys = request.headers.getlist("x-api-key")
    if len(keys) > 1:
        raise BadRequest("send X-API-Key once: several keys in one request are refused")
    if not keys or not keys[0]:
        raise Unauthorized("missing X-API-Key header")
    principal = await request.app.state.keys.principal(pool, keys[0])
    if principal is None:
        charge_failed_auth(request.scope)
        raise Unauthorized("unknown, revoked or expired API key")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    async def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            allowed = ", ".join(roles)
            raise Forbidden(f"this call needs the role {allowed}; your key has the role {user.role}")
        return user

    return check


Upstream = Annotated[Principal, Depends(require(Role.UPSTREAM, Role.ADMIN))]
# Everyone who reads cases: not a QA reviewer, who reviews samples blind (a case shows its verdicts).
Reader = Annotated[Principal, Depends(require(Role.UPSTREAM, Role.MODERATOR, Role.SUPERVISOR, Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.MODERATOR, Role.SUPERVISOR, Role.ADMIN))]
Reviewer = Annotated[Principal, Depends(require(Role.MODERATOR, Role.SUPERVISOR))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
QaReviewer = Annotated[Principal, Depends(require(Role.QA))]
Overseer = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
