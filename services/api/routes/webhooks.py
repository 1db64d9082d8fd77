"""/v1/webhooks: admins register the subscribers of case events and look after their deliveries."""

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from shared.errors import Invalid
from services.api import webhooks
from services.api.deps import Admin, PoolDep, SettingsDep
from services.api.schemas import ErrorOut
from services.api.strict import StrictRoute
from services.api.webhook_schemas import DeliveryList, DeliveryStatus, Replayed, WebhookCreate, WebhookOut

ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=ERRORS, route_class=StrictRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookOut)
async def create_webhook(data: WebhookCreate, pool: PoolDep, user: Admin):
    """Subscribe `url` to the events named (`*`, `case.*`, `case.closed`, `action.executed`, ...). Each
    callback is signed with `secret`: `X-Vigil-Signature: sha256=HMAC(secret, "<X-Vigil-Timestamp>.<body>")`."""
    async with pool.connection() as conn:
        return await webhooks.create(conn, data=data, by=user)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(pool: PoolDep, user: Admin):
    async with pool.connection() as conn:
        return await webhooks.list_all(conn)


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: uuid.UUID, pool: PoolDep, user: Admin):
    async with pool.connection() as conn:
        return await webhooks.get_or_raise(conn, webhook_id=webhook_id)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: uuid.UUID, pool: PoolDep, user: Admin):
    """Stops the deliveries to it and forgets them."""
    async with pool.connection() as conn:
        await webhooks.delete(conn, webhook_id=webhook_id, by=user)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: uuid.UUID,
    pool: PoolDep,
    user: Admin,
    settings: SettingsDep,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=19)] = None,
):
    """Newest first: each with its event type, case, attempts and last error (`status=dead`: the dead letters)."""
    if limit > settings.max_page_size:
        raise Invalid(f"limit is at most {settings.max_page_size}")
    if cursor is not None and not re.fullmatch(r"[0-9]{1,18}", cursor):
        raise Invalid("cursor must be the `next` value of a previous page")
    async with pool.connection() as conn:
        items, next_cursor = await webhooks.deliveries(conn, webhook_id=webhook_id, status=status_, limit=limit,
                                                       cursor=int(cursor) if cursor else None)
    return {"items": items, "next": next_cursor}


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED,
             response_model=Replayed)
async def replay_delivery(webhook_id: uuid.UUID, delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                          pool: PoolDep, user: Admin):
    """A dead delivery back on its way, attempts from zero, with its case's earlier dead deliveries
    (they go first: a case's events arrive in order); 409 if it is not dead."""
    async with pool.connection() as conn:
        return {"replayed": await webhooks.replay(conn, webhook_id=webhook_id, delivery_id=delivery_id, by=user)}


@router.post("/{webhook_id}/replay", status_code=status.HTTP_202_ACCEPTED, response_model=Replayed)
async def replay_dead(webhook_id: uuid.UUID, pool: PoolDep, user: Admin):
    """Every dead delivery of this subscriber back on its way."""
    async with pool.connection() as conn:
        return {"replayed": await webhooks.replay_dead(conn, webhook_id=webhook_id, by=user)}
