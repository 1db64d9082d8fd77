"""Transparency figures (EU DSA Art. 15, 24) for a period, recomputed from the audit trail.

Every figure counts audit events whose time falls in the period (`from` 00:00 UTC up to the end
of `to`), so any period can be reported again later with the same answer. Definitions:

- cases received: `case_received` events, by tenant and by the DSA source type the upstream gave
  in the case's metadata `source` (`shared.statements.source_type`; unsaid: own initiative).
- decisions: a person's decisions (`decision_made`, reanalysis requests left out), by decision, in
  the first review round or on appeal (a round a quality review reopened counts as a first one);
  `auto_closed`: cases the analysis closed on its own.
- actions: platform actions the platform confirmed (`action_executed`), by type and ground (the
  analysis' category the decision acted on, and the DSA decision ground its statement of reasons
  gave when it was issued; none for a warning); `reversed_by_type`: reversals confirmed after appeals (`action_reversed`).
- automated detection: the share of decisions whose case Vigil's analyser found (the platform's
  own initiative, and the analysis the person saw named a category other than clean), as
  `automated_detection` in the statements; content a notice reported was not found automatically.
- appeals: `received` = appeals filed; `decided` = decisions of an appeal's review round. Of those,
  a decision is `reversed` when it drops something the appealed decision imposed (its restrictions
  — warn, remove, ban — are not all kept: remove_and_ban → warn, warn → remove, remove → dismiss),
  `made_stricter` when it keeps them all and adds some (remove → remove_and_ban), else `upheld`.
- medians (seconds): `to_decision` = case received → its first decision (round 1), over first
  decisions made in the period; `to_appeal_decision` = appeal filed → the decision of the review
  round it opened, over those made in the period.
- complaints (Art. 20, 15(1)(d)): appeals the platform forwarded for the affected user or the
  notifier, filed in the period by complainant and basis; decided in the period by outcome (as
  appeals), with the median time from filing to decision.
- notices (Art. 15(1)(b)): first-round decisions in the period of cases a notice brought, by the
  notice's source type, with the median time from the notice's arrival to that decision;
  `first_decisions_by_initiative`: every first-round decision, own initiative vs notice (15(1)(c)).
- accuracy_of_automated_means (Art. 15(1)(e)): from the blind quality reviews of sampled cases
  closed in the period, the automatic closures' miss rate, the review routing's false-alarm rate and
  the agreement of first and quality decisions, each with its 95% interval, overall and by tenant,
  category, model version and week (`shared.accuracy`).
- restrictions: what the statements of reasons issued in the period imposed, by restriction and
  category in the Transparency Database's terms (one statement may count twice: removal and ban).
- analyser agreement, over each case's final decision (no later decision of the case up to the end
  of the period) made in the period: `same_decision` = the person decided what the analysis they
  saw suggested (`suggested_decision`); `flag_upheld` = the person acted on the flag (anything but
  dismiss), i.e. the analyser was right to send it to review (`needs_review`).
"""

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from psycopg import AsyncConnection, Connection
from psycopg.rows import dict_row

from shared import accuracy, statements
from shared.domain import SUPERVISOR_APPEAL, appeal_outcome
from shared.errors import Invalid
from shared.statements import QUALITY_REVIEW, Ground

EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise Invalid(f"the period is empty: from {self.start} is after to {self.end}")
        if self.start < EARLIEST or self.end >= date.max:
            raise Invalid(f"a period lies between {EARLIEST} and {date.max - timedelta(days=1)}")

    @property
    def params(self) -> dict[str, datetime]:
        return {"start": datetime.combine(self.start, time(), UTC),
                "end": datetime.combine(self.end + timedelta(days=1), time(), UTC)}


# The metadata sources that name a notice (`shared.statements.SOURCE`); any other, or none, is the
# platform's own initiative, as a statement reports it.
_NOTIFIED = ", ".join(f"'{source}'" for source, kind in statements.SOURCE.items() if kind != "SOURCE_VOLUNTARY")
_IN_PERIOD = "e.at >= %(start)s AND e.at < %(end)s"
# A person's decisions in the period (a reanalysis request is not one).
_DECIDED = f"""
    SELECT e.id, e.case_id, e.at, e.data ->> 'decision' AS decision, (e.data ->> 'round')::int AS round
    FROM audit_events e
    WHERE e.event = 'decision_made' AND e.data ->> 'decision' <> 'reanalyze' AND {_IN_PERIOD}"""


def _analysis_before(event: str) -> str:
    """The LATERAL subquery of the case's latest analysis before the event `event` (what a person saw)."""
    return f"""
        LEFT JOIN LATERAL (
            SELECT x.data -> 'analysis' AS analysis FROM audit_events x
            WHERE x.case_id = {event}.case_id AND x.event = 'analysis_completed' AND x.id < {event}.id
            ORDER BY x.id DESC LIMIT 1
        ) a ON true"""


QUERIES = {
    "received": f"""
        SELECT c.tenant, c.metadata ->> 'source' AS source, count(*) AS n
        FROM audit_events e JOIN cases c ON c.id = e.case_id
        WHERE e.event = 'case_received' AND {_IN_PERIOD} GROUP BY 1, 2""",
    "decisions": f"""
        WITH decided AS ({_DECIDED}
        ), seen AS (SELECT d.*, a.analysis, c.metadata,
                           coalesce(a.analysis ->> 'found_by', '') = '{QUALITY_REVIEW}' AS qa_found
                    FROM decided d JOIN cases c ON c.id = d.case_id {_analysis_before("d")})
        SELECT decision, round > 1 AND NOT qa_found AS on_appeal,
               coalesce(analysis ->> 'category', 'clean') <> 'clean'
                   AND coalesce(metadata ->> 'source', '') NOT IN ({_NOTIFIED}) AND NOT qa_found AS flagged,
               analysis ->> 'suggested_decision' AS suggested,
               NOT EXISTS (SELECT 1 FROM audit_events y
                           WHERE y.case_id = seen.case_id AND y.event = 'decision_made' AND y.id > seen.id
                             AND y.data ->> 'decision' <> 'reanalyze' AND y.at < %(end)s) AS final,
               count(*) AS n
        FROM seen GROUP BY 1, 2, 3, 4, 5""",
    "auto_closed": f"SELECT count(*) AS n FROM audit_events e WHERE e.event = 'auto_closed' AND {_IN_PERIOD}",
    "actions": f"""
        SELECT e.event, e.data ->> 'action' AS action, a.analysis ->> 'category' AS category,
               s.body ->> 'decision_ground' AS decision_ground, count(*) AS n
        FROM audit_events e {_analysis_before("e")}
        LEFT JOIN LATERAL (  -- the statement a restriction stands under: its round's, or the one an appeal upheld
            SELECT s.body FROM statements s
            WHERE s.case_id = e.case_id AND s.round <= (e.data ->> 'round')::int AND e.data ->> 'action' IN ('remove', 'ban')
            ORDER BY s.round DESC LIMIT 1
        ) s ON true
        WHERE e.event IN ('action_executed', 'action_reversed') AND e.data ->> 'result' = 'confirmed' AND {_IN_PERIOD}
        GROUP BY 1, 2, 3, 4""",
    "appeals_filed": f"SELECT count(*) AS n FROM audit_events e WHERE e.event = 'appeal_filed' AND {_IN_PERIOD}",
    # Each appeal decided in the period beside the decision it was about, who brought it (a
    # complaint's source) and how long after it was filed.
    "appeals_decided": f"""
        SELECT p.decision AS appealed, e.data ->> 'decision' AS decision, coalesce(a.source, 'supervisor') AS source,
               extract(epoch FROM e.at - a.created_at)::float8 AS seconds
        FROM audit_events e
        LEFT JOIN appeals a ON a.case_id = e.case_id AND a.round = (e.data ->> 'round')::int - 1
        JOIN LATERAL (
            SELECT x.data ->> 'decision' AS decision FROM audit_events x
            WHERE x.case_id = e.case_id AND x.event = 'decision_made' AND x.data ->> 'decision' <> 'reanalyze'
              AND (x.data ->> 'round')::int = (e.data ->> 'round')::int - 1
            ORDER BY x.id DESC LIMIT 1
        ) p ON true
        WHERE e.event = 'decision_made' AND e.data ->> 'decision' <> 'reanalyze' AND (e.data ->> 'round')::int > 1
          AND {_IN_PERIOD}""",
    "medians": f"""
        WITH decided AS ({_DECIDED}
        ), waited AS (
            SELECT d.round, extract(epoch FROM d.at - CASE WHEN d.round = 1
                THEN coalesce((SELECT min(r.at) FROM audit_events r
                               WHERE r.case_id = d.case_id AND r.event = 'case_received'),
                              (SELECT c.created_at FROM cases c WHERE c.id = d.case_id))
                ELSE (SELECT max(p.at) FROM audit_events p
                      WHERE p.case_id = d.case_id AND p.event = 'appeal_filed' AND p.id < d.id
                        AND (p.data ->> 'round')::int = d.round - 1) END) AS seconds
            FROM decided d
        )
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE round = 1) AS to_decision,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE round > 1) AS to_appeal_decision
        FROM waited""",
    # Complaints (Art. 20) filed in the period, by who brought them and on what basis.
    "complaints_filed": f"""
        SELECT e.data ->> 'source' AS source, e.data ->> 'basis' AS basis, count(*) AS n
        FROM audit_events e
        WHERE e.event = 'appeal_filed' AND coalesce(e.data ->> 'source', '{SUPERVISOR_APPEAL}') <> '{SUPERVISOR_APPEAL}'
          AND {_IN_PERIOD}
        GROUP BY 1, 2""",
    # Notices (Art. 16 and the like): each notified case's first decision in the period, and how long
    # after the notice came in; and every first-round decision by initiative.
    "first_decisions": f"""
        SELECT coalesce(c.metadata ->> 'source', '') IN ({_NOTIFIED}) AS notified, c.metadata ->> 'source' AS source,
               extract(epoch FROM e.at - c.created_at)::float8 AS seconds
        FROM audit_events e JOIN cases c ON c.id = e.case_id
        WHERE e.event = 'decision_made' AND e.data ->> 'decision' <> 'reanalyze' AND (e.data ->> 'round')::int = 1
          AND {_IN_PERIOD}""",
    # Quality reviews of cases closed in the period (Art. 15(1)(e)): the automated means' error rates.
    "quality_reviews": accuracy.REVIEWED,
    # Restrictions as the statements of reasons issued in the period report them, in the database's terms.
    "restrictions": """
        SELECT r.restriction, s.body ->> 'category' AS category, count(*) AS n
        FROM statements s
        CROSS JOIN LATERAL (
            SELECT jsonb_array_elements_text(coalesce(s.body -> 'decision_visibility', '[]'::jsonb)) AS restriction
            UNION ALL SELECT s.body ->> 'decision_account' WHERE s.body ? 'decision_account'
        ) r
        WHERE s.issued_at >= %(start)s AND s.issued_at < %(end)s
        GROUP BY 1, 2""",
}


def report(conn: Connection, *, period: Period, grounds: Mapping[str, Ground]) -> dict[str, Any]:
    """The figures, on a sync connection (the `vigil report` command)."""
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = {name: cursor.execute(sql, period.params).fetchall() for name, sql in QUERIES.items()}
    return assemble(rows, period=period, grounds=grounds)


async def report_async(conn: AsyncConnection, *, period: Period, grounds: Mapping[str, Ground]) -> dict[str, Any]:
    """The same on the api's async connection."""
    rows = {}
    async with conn.cursor(row_factory=dict_row) as cursor:
        for name, sql in QUERIES.items():
            await cursor.execute(sql, period.params)
            rows[name] = await cursor.fetchall()
    return assemble(rows, period=period, grounds=grounds)


def assemble(rows: Mapping[str, list[dict]], *, period: Period, grounds: Mapping[str, Ground]) -> dict[str, Any]:
    by_tenant, by_source = _Counts(), _Counts()
    for row in rows["received"]:
        by_tenant.add(row["tenant"], row["n"])
        by_source.add(statements.source_type({"source": row["source"]}), row["n"])

    by_decision, rounds, flagged, agreement = _Counts(), _Counts(), 0, _Counts()
    for row in rows["decisions"]:
        n = row["n"]
        by_decision.add(row["decision"], n)
        rounds.add("on_appeal" if row["on_appeal"] else "first_round", n)
        flagged += n if row["flagged"] else 0
        if row["final"]:
            agreement.add("final_decisions", n)
            agreement.add("same_decision", n if row["suggested"] == row["decision"] else 0)
            agreement.add("flag_upheld", n if row["decision"] != "dismiss" else 0)
    decisions = sum(by_decision.values())

    executed, ground_rows, reversed_by_type = _Counts(), _Counts(), _Counts()
    for row in rows["actions"]:
        if row["event"] == "action_reversed":
            reversed_by_type.add(row["action"], row["n"])
            continue
        executed.add(row["action"], row["n"])
        category, _ = statements.ground_of(row["category"], grounds)
        # The ground as the statement issued for it says (a warning has none), never today's settings.
        ground_rows.add((row["action"], category, row["decision_ground"]), row["n"])

    outcomes = _Counts({"upheld": 0, "reversed": 0, "made_stricter": 0})
    complaints_decided = [row for row in rows["appeals_decided"] if row["source"] != SUPERVISOR_APPEAL]
    for row in rows["appeals_decided"]:
        outcomes.add(appeal_outcome(row["appealed"], row["decision"]), 1)
    medians = rows["medians"][0] if rows["medians"] else {}
    by_complainant, by_basis, complaint_outcomes = _Counts(), _Counts(), _Counts(
        {"upheld": 0, "reversed": 0, "made_stricter": 0})
    for row in rows["complaints_filed"]:
        by_complainant.add(row["source"], row["n"])
        by_basis.add(row["basis"], row["n"])
    for row in complaints_decided:
        complaint_outcomes.add(appeal_outcome(row["appealed"], row["decision"]), 1)
    notices, by_initiative = _Counts(), _Counts({"own_initiative": 0, "notice": 0})
    for row in rows["first_decisions"]:
        by_initiative.add("notice" if row["notified"] else "own_initiative", 1)
        if row["notified"]:
            notices.add(statements.source_type({"source": row["source"]}), 1)
    final = agreement.get("final_decisions", 0)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "cases_received": {"total": sum(by_tenant.values()), "by_tenant": by_tenant.sorted(),
                           "by_source_type": by_source.sorted()},
        "decisions": {"total": decisions, "by_decision": by_decision.sorted(),
                      "first_round": rounds.get("first_round", 0), "on_appeal": rounds.get("on_appeal", 0),
                      "auto_closed": rows["auto_closed"][0]["n"]},
        "actions": {"by_type": executed.sorted(),
                    "by_type_and_ground": [
                        {"action": action, "category": category, "decision_ground": ground, "count": n}
                        for (action, category, ground), n in sorted(ground_rows.items(),
                                                                     key=lambda item: tuple(map(str, item[0])))],
                    "reversed_by_type": reversed_by_type.sorted()},
        "automated_detection": {"decisions": decisions, "with_automated_detection": flagged,
                                "share": _share(flagged, decisions)},
        "appeals": {"received": rows["appeals_filed"][0]["n"], "decided": sum(outcomes.values()), **outcomes},
        "complaints": {"received": sum(by_complainant.values()), "by_complainant": by_complainant.sorted(),
                       "by_basis": by_basis.sorted(), "decided": sum(complaint_outcomes.values()),
                       "by_outcome": complaint_outcomes.sorted(),
                       "median_seconds_to_decide": _median([r["seconds"] for r in complaints_decided])},
        "notices": {"acted_on": sum(notices.values()), "by_source_type": notices.sorted(),
                    "median_seconds_to_act": _median([r["seconds"] for r in rows["first_decisions"] if r["notified"]])},
        "first_decisions_by_initiative": by_initiative.sorted(),
        "restrictions": [{"restriction": restriction, "category": category, "count": n}
                         for restriction, category, n in sorted((r["restriction"], r["category"], r["n"])
                                                                for r in rows["restrictions"])],
        "accuracy_of_automated_means": accuracy.report(rows["quality_reviews"]),
        "median_seconds": {"to_decision": _seconds(medians.get("to_decision")),
                           "to_appeal_decision": _seconds(medians.get("to_appeal_decision"))},
        "analyser_agreement": {
            "final_decisions": final,
            "same_decision": agreement.get("same_decision", 0),
            "same_decision_share": _share(agreement.get("same_decision", 0), final),
            "flag_upheld": agreement.get("flag_upheld", 0),
            "flag_upheld_share": _share(agreement.get("flag_upheld", 0), final),
        },
    }


class _Counts(dict):
    def add(self, key: Any, n: int) -> None:
        self[key] = self.get(key, 0) + n

    def sorted(self) -> dict[str, int]:
        return dict(sorted(self.items()))


def _median(values: list[float]) -> float | None:
    return _seconds(statistics.median(values)) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def rows_for_csv(figures: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The figures flattened to (name, value) rows: `actions.by_type.remove`, `appeals.reversed`, …"""
    flat = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat += rows_for_csv(value, f"{name}.")
        elif isinstance(value, list):
            for item in value:
                label = ".".join(str(v) for k, v in item.items() if k != "count")
                flat.append((f"{name}.{label}", item["count"]))
        else:
            flat.append((name, "" if value is None else value))
    return flat
