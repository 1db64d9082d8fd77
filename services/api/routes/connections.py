"""/v1/connections: admins set each tenant's platform connection (where its actions go, how they are signed)."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from shared.connections import Change
from services.api import connections
from services.api.connections import ConnectionIn, ConnectionOut
from services.api.deps import Admin, PoolDep, SettingsDep
from services.api.schemas import ErrorOut, Identifier
from services.api.strict import StrictRoute

ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
router = APIRouter(prefix="/v1/connections", tags=["connections"], responses=ERRORS, route_class=StrictRoute)
Tenant = Annotated[Identifier, Path(description="the tenant, as its upstream keys name it")]


@router.get("", response_model=list[ConnectionOut])
async def list_connections(pool: PoolDep, user: Admin):
    """The version in force of every tenant's own connection; a tenant not listed uses PLATFORM_URL."""
    async with pool.connection() as conn:
        return await connections.current(conn)


@router.get("/{tenant}", response_model=list[ConnectionOut])
async def connection_history(tenant: Tenant, pool: PoolDep, user: Admin):
    """Every version of the tenant's connection, newest (the one in force) first: who changed what, when."""
    async with pool.connection() as conn:
        return await connections.history(conn, tenant=tenant)


@router.put("/{tenant}", response_model=ConnectionOut)
async def set_connection(tenant: Tenant, data: ConnectionIn, pool: PoolDep, user: Admin, settings: SettingsDep):
    """A new version of the tenant's connection; workers use it within CONNECTION_CACHE_SECONDS, the
    dispatcher its statements endpoint within a second. Storing a secret or token needs SECRET_KEYS on the
    api (503 without)."""
    change = Change(base_url=data.base_url, secret=data.secret, timeout=data.timeout, statements_url=data.statements_url,
                    statements_kind=data.statements_kind, statements_token=data.statements_token)
    async with pool.connection() as conn:
        return await connections.change(conn, tenant=tenant, change=change, box=settings.secret_box, by=user)


@router.delete("/{tenant}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_connection(tenant: Tenant, pool: PoolDep, user: Admin, settings: SettingsDep):
    """The tenant goes back to the default connection (a version that says so; the history stays)."""
    async with pool.connection() as conn:
        await connections.change(conn, tenant=tenant, change=Change(removed=True), box=settings.secret_box, by=user)
