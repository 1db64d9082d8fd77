"""The action ledger: each platform action is recorded before it is called and marked when the
platform answers, so a retry or a redelivery never repeats an action the platform confirmed.

An action in doubt (the process died between the call and the mark) stays `pending` and is called
again with the same Idempotency-Key, which the platform answers without a second effect.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.db import transaction
from shared.domain import REVERSAL, ActionKind, ActionStatus
from shared.models import Action
from services.worker.platform import PlatformClient, PlatformRefused, PlatformUnavailable


class ActionLedger:
    def __init__(self, *, sessions: sessionmaker[Session], platform: PlatformClient) -> None:
        self._sessions = sessions
        self._platform = platform

    def execute(self, *, case_id: uuid.UUID, round: int, kind: ActionKind, target_id: str) -> Action:
        """Run one action of a decision: at most once per case, round and action."""
        key = f"{case_id}:r{round}:{kind}"
        return self._perform(case_id=case_id, round=round, kind=kind, target_id=target_id, key=key)

    def reverse_all(self, *, case_id: uuid.UUID, round: int) -> list[Action]:
        """Reverse what actually executed and is still in effect, newest first."""
        with self._sessions() as session:
            in_effect = session.scalars(
                select(Action)
                .where(
                    Action.case_id == case_id,
                    Action.status == ActionStatus.CONFIRMED,
                    Action.reverses_id.is_(None),
                    ~Action.id.in_(
                        select(Action.reverses_id).where(
                            Action.case_id == case_id,
                            Action.status == ActionStatus.CONFIRMED,
                            Action.reverses_id.is_not(None),  # NOT IN over a NULL is never true
                        )
                    ),
                )
                .order_by(Action.seq.desc())
            ).all()
        return [
            self._perform(
                case_id=case_id,
                round=round,
                kind=REVERSAL[ActionKind(action.kind)],
                target_id=action.target_id,
                key=f"{case_id}:undo:{action.id}",
                reverses_id=action.id,
            )
            for action in in_effect
        ]

    def _perform(
        self,
        *,
        case_id: uuid.UUID,
        round: int,
        kind: ActionKind,
        target_id: str,
        key: str,
        reverses_id: uuid.UUID | None = None,
    ) -> Action:
        action = self._record(case_id=case_id, round=round, kind=kind, target_id=target_id, key=key, reverses_id=reverses_id)
        if action.status != ActionStatus.PENDING:
            return action  # confirmed or refused before: never call the platform again
        try:
            response = self._platform.perform(kind=kind, target_id=target_id, idempotency_key=key)
        except PlatformRefused as refusal:
            return self._settle(action, status=ActionStatus.REFUSED, error=str(refusal))
        except PlatformUnavailable as error:
            self._settle(action, status=ActionStatus.PENDING, error=str(error))
            raise
        return self._settle(action, status=ActionStatus.CONFIRMED, response=response)

    def _record(self, *, key: str, **fields) -> Action:
        with transaction(self._sessions) as session:
            session.execute(
                insert(Action).values(idempotency_key=key, status=ActionStatus.PENDING, attempts=0, **fields)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            action = session.scalars(select(Action).where(Action.idempotency_key == key).with_for_update()).one()
            if action.status == ActionStatus.PENDING:
                action.attempts += 1
            return action

    def _settle(
        self, action: Action, *, status: ActionStatus, error: str | None = None, response: dict | None = None
    ) -> Action:
        with transaction(self._sessions) as session:
            action = session.merge(action)
            action.status = status
            action.last_error = error
            if status == ActionStatus.CONFIRMED:
                action.response = response
                action.confirmed_at = datetime.now(UTC)
            if status != ActionStatus.PENDING:
                audit.record(
                    session,
                    case_id=action.case_id,
                    actor=audit.SYSTEM,
                    event="action_reversed" if action.reverses_id else "action_executed",
                    data={"action": action.kind, "target_id": action.target_id, "round": action.round,
                          "result": status, "error": error},
                    dedupe_key=f"action:{action.idempotency_key}",
                )
            return action
