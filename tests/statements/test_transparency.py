"""Transparency figures from the audit trail: exact on a known set of cases, for any period, the
same from the api and the command line; bad periods are 422."""

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.db import transaction
from shared.domain import CommandKind
from shared.models import AuditEvent, Case
from tests.statements.arrange import ABUSIVE, CLEAN, SPAM, receive, run
from tests.support.arrange import appeal, case_row, decide
from tests.test_cli import vigil

TODAY = datetime.now(UTC).date().isoformat()


def report(client, start: str = TODAY, end: str = TODAY, *, as_: str = "admin"):
    return client.get("/v1/reports/transparency", params={"from": start, "to": end}, headers=client.as_(as_))


def test_figures_of_a_known_set_of_cases_run_by_the_worker(client, runner, sessions):
    def reviewed(text: str, *, tenant: str, source: str | None, decisions: list[str]) -> uuid.UUID:
        case_id, start = receive(sessions, text=text, tenant=tenant, metadata={"source": source} if source else {})
        run(runner, case_id, start, CommandKind.START)
        for round, decision in enumerate(decisions, start=1):
            if round > 1:
                run(runner, case_id, appeal(sessions, case_id, by="sup-cy"), CommandKind.ROLLBACK)
            by = "mod-ana" if round == 1 else "sup-dee"
            run(runner, case_id, decide(sessions, case_id, decision, by=by), CommandKind.RESUME)
        return case_id

    cases = [
        reviewed(ABUSIVE, tenant="forum", source="notice", decisions=["remove_and_ban", "warn"]),  # reversed
        reviewed(SPAM, tenant="market", source=None, decisions=["remove", "remove"]),  # upheld
        reviewed(ABUSIVE, tenant="forum", source="trusted_flagger", decisions=["warn"]),
        reviewed(ABUSIVE, tenant="forum", source=None, decisions=["dismiss"]),
    ]
    clean, start = receive(sessions, text=CLEAN, tenant="market")
    run(runner, clean, start, CommandKind.START)
    finals = ["warn", "remove", "warn", "dismiss"]
    suggested = [case_row(sessions, case_id).analysis["suggested_decision"] for case_id in cases]
    categories = [case_row(sessions, case_id).analysis["category"] for case_id in cases]
    assert categories == ["abuse", "spam", "abuse", "abuse"]

    answer = report(client)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["cases_received"] == {
        "total": 5, "by_tenant": {"forum": 3, "market": 2},
        "by_source_type": {"SOURCE_ARTICLE_16": 1, "SOURCE_TRUSTED_FLAGGER": 1, "SOURCE_VOLUNTARY": 3}}
    assert figures["decisions"] == {"total": 6, "by_decision": {"dismiss": 1, "remove": 2, "remove_and_ban": 1,
                                                                 "warn": 2},
                                    "first_round": 4, "on_appeal": 2, "auto_closed": 1}
    assert figures["actions"]["by_type"] == {"ban": 1, "remove": 3, "warn": 2}
    assert figures["actions"]["reversed_by_type"] == {"restore": 2, "unban": 1}
    terms = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert figures["actions"]["by_type_and_ground"] == [
        {"action": "ban", "category": "abuse", "decision_ground": terms, "count": 1},
        {"action": "remove", "category": "abuse", "decision_ground": terms, "count": 1},
        {"action": "remove", "category": "spam", "decision_ground": terms, "count": 2},
        {"action": "warn", "category": "abuse", "decision_ground": None, "count": 2}]  # a warning has no statement
    # Notices found two of the cases: the analyser found the two the platforms sent on their own initiative.
    assert figures["automated_detection"] == {"decisions": 6, "with_automated_detection": 3, "share": 0.5}
    assert figures["appeals"] == {"received": 2, "decided": 2, "upheld": 1, "reversed": 1, "made_stricter": 0}
    same = sum(s == f for s, f in zip(suggested, finals))
    assert figures["analyser_agreement"] == {"final_decisions": 4, "same_decision": same,
                                             "same_decision_share": same / 4, "flag_upheld": 3,
                                             "flag_upheld_share": 0.75}
    assert figures["median_seconds"]["to_decision"] > 0 and figures["median_seconds"]["to_appeal_decision"] > 0

    # The command line computes the same figures, as JSON or as CSV rows.
    done = vigil(client.app.state.settings, "report", "transparency", "--from", TODAY, "--to", TODAY)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == figures
    done = vigil(client.app.state.settings, "report", "transparency", "--from", TODAY, "--to", TODAY, "--csv")
    rows = dict(list(csv.reader(io.StringIO(done.stdout)))[1:])
    assert rows["appeals.reversed"] == "1" and rows["cases_received.by_tenant.forum"] == "3"
    assert rows["actions.by_type_and_ground.remove.spam.DECISION_GROUND_INCOMPATIBLE_CONTENT"] == "2"

    # A deployment that states spam illegal from now on changes the statements to come, not the ones
    # issued: the report gives each restriction the ground its statement gave.
    later = client.app.state.settings.model_copy(update={"statement_grounds": json.dumps(
        {"spam": {"ground": "Unfair Commercial Practices Directive", "explanation": "spam", "illegal": True}})})
    done = vigil(later, "report", "transparency", "--from", TODAY, "--to", TODAY)
    assert json.loads(done.stdout)["actions"] == figures["actions"]


T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def trail(sessions, *events: tuple[str, timedelta, dict]) -> uuid.UUID:
    """A case whose audit trail holds these events (name, time after T0, data), as the api and the
    worker write them."""
    case_id = uuid.uuid4()
    with transaction(sessions) as session:
        session.add(Case(id=case_id, tenant="forum", external_id=f"t-{case_id.hex[:8]}", created_by="forum",
                         content={"text": "x", "author_id": "u"}, meta={}, status="closed", created_at=T0))
        session.flush()
        for event, after, data in events:
            session.add(AuditEvent(case_id=case_id, actor="someone", event=event, data=data, at=T0 + after))
            session.flush()  # in order: the trail's ids follow its times
    return case_id


def analysed(suggested: str, category: str = "abuse") -> dict:
    return {"analysis": {"category": category, "suggested_decision": suggested, "needs_review": True},
            "round": 1, "attempt": 0}


def decision(decision: str, round: int = 1) -> dict:
    return {"decision": decision, "note": None, "round": round, "attempt": 0}


def test_medians_and_periods_on_a_known_trail(client, sessions):
    minutes = lambda n: timedelta(minutes=n)  # noqa: E731
    trail(sessions, ("case_received", minutes(0), {}), ("analysis_completed", minutes(0), analysed("remove")),
          ("decision_made", minutes(1), decision("remove")),
          ("appeal_filed", minutes(100), {"round": 1}), ("decision_made", minutes(110), decision("dismiss", 2)))
    trail(sessions, ("case_received", minutes(0), {}), ("analysis_completed", minutes(0), analysed("warn")),
          ("decision_made", minutes(3), decision("warn")),
          ("appeal_filed", minutes(100), {"round": 1}), ("decision_made", minutes(130), decision("remove", 2)))
    trail(sessions, ("case_received", minutes(0), {}), ("analysis_completed", minutes(0), analysed("remove")),
          ("decision_made", minutes(10), decision("remove")))
    # Received the day before, decided in the period: counted as a decision, not as received.
    trail(sessions, ("case_received", -timedelta(days=1), {}),
          ("analysis_completed", -timedelta(days=1), analysed("dismiss", "clean")),
          ("decision_made", minutes(0), decision("dismiss")))

    figures = report(client, "2026-03-10", "2026-03-10").json()
    assert figures["cases_received"]["total"] == 3
    assert figures["decisions"]["by_decision"] == {"dismiss": 2, "remove": 3, "warn": 1}
    # Round 1: 1, 3, 10 minutes and a day → median between 3 and 10 minutes; appeals: 10 and 30 minutes.
    assert figures["median_seconds"] == {"to_decision": 390.0, "to_appeal_decision": 1200.0}
    # dismiss after remove drops the removal; remove after warn drops the warning (a different restriction).
    assert figures["appeals"] == {"received": 2, "decided": 2, "upheld": 0, "reversed": 2, "made_stricter": 0}
    assert figures["automated_detection"] == {"decisions": 6, "with_automated_detection": 5, "share": 0.8333}
    # Final decisions: dismiss (suggested remove), remove (suggested warn), remove (= suggested), dismiss (= suggested).
    assert figures["analyser_agreement"] == {"final_decisions": 4, "same_decision": 2, "same_decision_share": 0.5,
                                             "flag_upheld": 2, "flag_upheld_share": 0.5}

    # Any period can be asked again: the day before holds one case received and nothing decided.
    before = report(client, "2026-03-09", "2026-03-09").json()
    assert before["cases_received"]["total"] == 1 and before["decisions"]["total"] == 0
    assert before["median_seconds"] == {"to_decision": None, "to_appeal_decision": None}
    assert before["automated_detection"]["share"] is None


@pytest.mark.parametrize("params", [
    {"from": "2026-13-01", "to": "2026-12-31"},
    {"from": "yesterday", "to": "2026-12-31"},
    {"from": "2026-12-31", "to": "2026-01-01"},
    {"from": "2026-01-01"},
    {"from": "1999-12-31", "to": "2026-01-01"},
    {"from": "2026-01-01", "to": "9999-12-31"},
])
def test_a_bad_period_is_422(client, params):
    answer = client.get("/v1/reports/transparency", params=params, headers=client.as_("admin"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"]


def test_only_an_admin_reads_the_report(client):
    assert report(client, as_="sup-cy").status_code == 403
    assert report(client, as_="upstream").status_code == 403
    assert client.get("/v1/reports/transparency", params={"from": TODAY, "to": TODAY}).status_code == 401


def test_the_command_refuses_a_bad_period(settings):
    done = vigil(settings, "report", "transparency", "--from", "2026-02-01", "--to", "2026-01-01")
    assert done.returncode == 1 and "the period is empty" in done.stderr
    assert vigil(settings, "report", "transparency", "--from", "soon", "--to", "2026-01-01").returncode == 2
