"""Statements of reasons issued and reversed by the worker, in the turn that moves the case.

A decision that executed closes its case (`executing` → `closed`); that turn's closing batch gets
one statement more, run after the move and the ledger's marks: it issues the statement of reasons
of the round (`statements` row + `statement.issued` event whose data is the body, fanned out to
the subscribers, the DSA endpoint's among them) only if the case did close in that round and at
least one restricting action of the round is confirmed. Which ones decide the body: the plan's
variants are built here and the statement picks the one the ledger confirms.

On appeal the outcome decides, not the rollback (which undoes the actions while the second review
runs): a decision that closes round 2 or later the same as the statement still standing upholds
it, and nothing is issued or reversed; any other decision reverses it (`statement.reversed`, with
the decision that overturned it) and, if it restricts, issues the round's own. Each is keyed by
case and round, so a turn that runs again issues or reverses nothing twice. A statement's body is
fixed when it is issued: nothing ever recomputes it from later settings.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from psycopg.types.json import Jsonb

from shared import dsa, events, statements
from shared.domain import Status
from shared.settings import Settings
from shared.statements import Ground
from shared.transitions import Statement
from services.worker.review import REVIEW_PAUSE
from services.worker.turn import CaseView

_CONFIRMED = """EXISTS (SELECT 1 FROM actions WHERE case_id = %(case_id)s AND round = %(round)s AND kind = '{kind}'
                              AND status = 'confirmed' AND reverses_id IS NULL)"""

_ISSUED_EVENT = events.appended(f"""c.id, c.tenant, '{events.STATEMENT_ISSUED}', c.status, i.body,
               'statement:' || c.id || ':' || %(round)s
        FROM issued i JOIN cases c ON c.id = i.case_id""", deduped=True)
ISSUE = f"""
    WITH took_effect AS (
        SELECT concat_ws('+', CASE WHEN {_CONFIRMED.format(kind="remove")} THEN 'remove' END,
                              CASE WHEN {_CONFIRMED.format(kind="ban")} THEN 'ban' END) AS variant
    ), issued AS (
        INSERT INTO statements (id, case_id, round, decision, body)
        SELECT gen_random_uuid(), c.id, %(round)s, %(decision)s,
               (%(bodies)s::jsonb -> t.variant)
               || jsonb_build_object('application_date', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
        FROM cases c, took_effect t
        WHERE c.id = %(case_id)s AND c.status = '{Status.CLOSED}' AND c.review_round = %(round)s
          AND %(bodies)s::jsonb ? t.variant
          AND NOT EXISTS (SELECT 1 FROM statements s WHERE s.case_id = c.id AND s.round < %(round)s
                          AND s.reversed_at IS NULL AND s.decision = %(decision)s)  -- upheld on appeal
        ON CONFLICT (case_id, round) DO NOTHING
        RETURNING case_id, body
    ){_ISSUED_EVENT}
    SELECT count(*) FROM issued"""

# A closing decision on appeal (round > 1) that differs from the decision of the statement still
# standing reverses it: with the decision that overturned it and the kinds of its round's actions
# whose reversal the platform confirmed. One that decides the same upholds it: nothing changes.
_REVERSED_EVENT = events.appended(f"""c.id, c.tenant, '{events.STATEMENT_REVERSED}', c.status,
               jsonb_build_object('round', r.round, 'puid', r.puid) || r.reversal,
               'statement-reversed:' || c.id || ':' || r.round
        FROM reversed r JOIN cases c ON c.id = r.case_id""", deduped=True)
REVERSE = f"""
    WITH standing AS (
        SELECT s.id FROM statements s JOIN cases c ON c.id = s.case_id
        WHERE s.case_id = %(case_id)s AND s.round < %(round)s AND s.reversed_at IS NULL
          AND s.decision <> %(decision)s AND c.status = '{Status.CLOSED}' AND c.review_round = %(round)s
    ), reversed AS (
        UPDATE statements s SET reversed_at = now(),
               reversal = jsonb_build_object(
                   'appeal_round', %(round)s, 'decision', %(decision)s, 'reversed_at', now(),
                   'reversed_actions', (SELECT coalesce(jsonb_agg(DISTINCT a.kind), '[]'::jsonb) FROM actions a
                                        JOIN actions r ON r.reverses_id = a.id AND r.status = 'confirmed'
                                        WHERE a.case_id = s.case_id AND a.round = s.round))
        FROM standing WHERE s.id = standing.id
        RETURNING s.case_id, s.round, s.body ->> 'puid' AS puid, s.reversal
    ){_REVERSED_EVENT}
    SELECT count(*) FROM reversed"""


# The `case.closed` event of the round, still in this transaction (no subscriber has it yet), gets
# what the decision did: the round's actions as the platform answered them, and the puid of the
# statement that now stands for the case (the round's own, the one an appeal upheld, or none).
CLOSED_DETAILS = f"""
    UPDATE case_events e SET data = e.data || jsonb_build_object(
        'actions', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', a.kind, 'target_id', a.target_id,
                                                                 'status', a.status) ORDER BY a.seq), '[]'::jsonb)
                    FROM actions a WHERE a.case_id = e.case_id AND a.round = %(round)s AND a.reverses_id IS NULL),
        'statement_puid', (SELECT s.body ->> 'puid' FROM statements s
                           WHERE s.case_id = e.case_id AND s.reversed_at IS NULL ORDER BY s.round DESC LIMIT 1))
    WHERE e.case_id = %(case_id)s AND e.type = '{events.status_event(Status.CLOSED)}'
      AND (e.data ->> 'round')::int = %(round)s"""


class StatementsOfReasons:
    """What a turn adds to its closing batch for the statement of reasons of its move."""

    def __init__(self, *, grounds: Mapping[str, Ground], territorial_scope: tuple[str, ...]) -> None:
        self._grounds = grounds
        self._scope = territorial_scope

    @classmethod
    def of(cls, settings: Settings) -> "StatementsOfReasons":
        return cls(grounds=statements.parse_grounds(settings.statement_grounds),
                   territorial_scope=statements.parse_territorial_scope(settings.statement_territorial_scope))

    @classmethod
    def defaults(cls) -> "StatementsOfReasons":
        return cls(grounds=statements.DEFAULT_GROUNDS, territorial_scope=dsa.EEA)

    def with_move(self, case: CaseView, rest: Any) -> list[Statement]:
        """The statements to run after the move to where the graph rests (`rest`): a closing
        decision's, on appeal the reversal of the one it overturns, then the details of the
        `case.closed` event."""
        values, pause = rest.values, rest.pause
        if pause is None or pause["kind"] == REVIEW_PAUSE:
            return []  # only a decision that executed (resting in its appeal window) says anything
        decision = (values.get("decision") or {}).get("decision")
        round = pause["round"]
        params = {"case_id": case.id, "round": round, "decision": decision}
        said = [Statement(REVERSE, params)] if round > 1 else []
        if decision in statements.RESTRICTING:  # warn, dismiss (and a reanalysis that ran out): no statement
            bodies = {"+".join(variant): self._body(case, values, round, variant)
                      for variant in _variants(statements.RESTRICTING[decision])}
            said.append(Statement(ISSUE, {**params, "bodies": Jsonb(bodies)}))
        return [*said, Statement(CLOSED_DETAILS, params)]

    def _body(self, case: CaseView, values: dict, round: int, variant: tuple[str, ...]) -> dict:
        return statements.build(
            tenant=case.tenant, external_id=case.external_id, round=round, restrictions=variant,
            analysis=values.get("analysis"), metadata=case.metadata,
            received_at=datetime.fromtimestamp(case.created_at, UTC), grounds=self._grounds,
            territorial_scope=self._scope)


def _variants(actions: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each non-empty subset of the plan's restricting actions, in the plan's order ("remove+ban")."""
    return [subset for size in range(1, len(actions) + 1) for subset in combinations(actions, size)]
