"""What a subscriber receives: one event per POST, or statements of reasons in batches.

An event is `{"id", "seq", "type", "case_id", "external_id", "status", "occurred_at", "data"}`
(`seq`: 1, 2, 3… per case, in the order the changes committed, which is the order a subscriber
receives them in, replays included); a
'statements' subscriber gets `{"statements": [<statement>, ...]}`, each the data of a
`statement.issued` event (so does a 'dsa-transparency-db' subscriber: the database's own API). Bodies are compact JSON; the signature covers these exact bytes."""

from datetime import UTC

import orjson

from shared import connections

from services.dispatcher.store import Claimed

STATEMENTS_BATCH = 100  # the DSA Transparency Database takes at most 100 statements per call


def event(claimed: Claimed) -> dict:
    return {"id": str(claimed.event_id), "seq": claimed.case_seq, "type": claimed.type, "case_id": str(claimed.case_id),
            "external_id": claimed.external_id, "status": claimed.status,
            "occurred_at": claimed.occurred_at.astimezone(UTC).isoformat(), "data": claimed.data}


BATCHED = frozenset(connections.STATEMENTS_KINDS.values())  # webhooks.kind that take statements in batches


def body(*, kind: str, claimed: list[Claimed]) -> bytes:
    if kind in BATCHED:
        return orjson.dumps({"statements": [c.data for c in claimed]})
    (one,) = claimed
    return orjson.dumps(event(one))


def batch_size(kind: str) -> int:
    return STATEMENTS_BATCH if kind in BATCHED else 1
