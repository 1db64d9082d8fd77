"""What the DSA Transparency Database's answer to a batch means for each statement in it.

Its API (`POST /api/v1/statements`, the Commission's digital-services-act/transparency-database:
StatementMultipleAPIController, PuidNotUniqueMultipleException) takes 1 to 100 statements, all or
none: 201 `{"statements": [{..., "puid", "uuid", "permalink"}]}` when it stored them, 422
`{"message", "errors": {"puid": [...], "existing_puids": [...]}}` when any puid was used before.
A puid it has is a statement it accepted earlier (a batch whose answer was lost, sent again): that
statement is delivered, and the rest of the batch goes again at once, without it. Any other 4xx
(but 408, 429) is a refusal that asking again will not change: the batch is dead at once, its
answer the error an admin reads, to replay once the cause is fixed.
"""

from dataclasses import dataclass

import orjson

from shared import connections

from services.dispatcher.sender import Outcome
from services.dispatcher.store import Claimed

KIND = connections.STATEMENTS_KINDS["dsa-transparency-db"]
# Answers that will not change by asking again (a statement it finds invalid, an unknown token);
# 408 and 429 are asked again, as a 5xx.
REFUSALS = frozenset(range(400, 500)) - {408, 429}
_KEPT = ("puid", "uuid", "permalink", "self", "created_at")  # of each stored statement: what names it there


@dataclass(frozen=True)
class Answered:
    delivered: list[tuple[Claimed, dict]]  # with what the database said of each
    again: list[Claimed]  # to send again now: a batch refused only for the puids it already had


def answered(claimed: list[Claimed], outcome: Outcome) -> Answered | None:
    """Each statement's fate, or None when the batch simply failed (the usual retries)."""
    said = _json(outcome.answer)
    if outcome.ok:
        stored = {item.get("puid"): item for item in said.get("statements", []) if isinstance(item, dict)}
        return Answered([(one, _named(stored.get(one.data.get("puid")), outcome.status_code)) for one in claimed], [])
    existing = set((said.get("errors") or {}).get("existing_puids") or []) if outcome.status_code == 422 else set()
    had = [one for one in claimed if one.data.get("puid") in existing]
    if not had:
        return None
    answer = {"status": 422, "already_accepted": True, "message": said.get("message")}
    return Answered([(one, answer) for one in had], [one for one in claimed if one not in had])


def _named(item: dict | None, status: int | None) -> dict:
    return {"status": status} | {key: item[key] for key in _KEPT if item and key in item}


def _json(raw: bytes) -> dict:
    try:
        said = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return said if isinstance(said, dict) else {}
