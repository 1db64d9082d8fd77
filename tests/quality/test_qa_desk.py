"""Quality sampling over the real database, worker runner and demo platform: what is drawn, what a
QA reviewer sees, and an automatic closure found violating going back to a person."""

import json

import pytest
from sqlalchemy import text

from shared.db import enqueue, transaction
from shared.domain import SEVERITY_PRIORITY, CommandKind, Status
from shared.quality import Rates, RatesError
from services.scheduler.quality import top_up_samples
from services.scheduler.retention import purge_final_cases
from tests.quality.conftest import deliver, samples
from tests.support.arrange import case_row, decide, started

CLEAN = "Lovely weather at the lake today, we had a picnic with the kids."
ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"


def test_an_automatic_closure_a_qa_reviewer_finds_violating_goes_to_a_person_at_high_priority(
        runner_with, client, sessions, fresh_platform):
    runner = runner_with(qa_auto_rate=1.0, qa_human_rate=0.0)
    case_id = started(runner, sessions, CLEAN)
    assert case_row(sessions, case_id).status == Status.AUTO_CLOSED
    [sample] = samples(sessions, case_id=case_id)
    assert (sample["kind"], sample["rate"], sample["reason"], sample["category"]) == ("auto", 1.0, "rate", "clean")
    assert 0 <= sample["draw"] < 1 and sample["model"].startswith("textmodel@")

    assert client.post("/v1/qa/next", headers=client.as_("mod-ana")).status_code == 403
    shown = client.post("/v1/qa/next", headers=client.as_("qa-quinn"))
    assert shown.status_code == 200, shown.text
    item = shown.json()
    assert item["content"]["text"] == CLEAN and item["sample_id"] == str(sample["id"])
    # blind: neither the analyser's verdict nor anyone's decision
    assert not {"analysis", "decision", "kind", "first_decision", "category", "status"} & set(item)
    assert "clean" not in json.dumps(item)

    url = f"/v1/qa/{sample['id']}/decision"
    unnamed = client.post(url, headers=client.as_("qa-quinn"), json={"decision": "remove"})
    assert unnamed.status_code == 422 and "violation" in unnamed.text
    assert client.post(url, headers=client.as_("mod-ana"), json={"decision": "dismiss"}).status_code == 403
    decided = client.post(url, headers=client.as_("qa-quinn"),
                          json={"decision": "remove", "violation": "abuse", "note": "a slur in dialect"})
    assert decided.status_code == 200 and decided.json()["reopened"] is True, decided.text
    again = client.post(url, headers=client.as_("qa-quinn"), json={"decision": "dismiss"})
    assert again.status_code == 409 and "reviewed already" in again.json()["message"]

    case = case_row(sessions, case_id)
    assert (case.status, case.review_round, case.final_at) == (Status.RECEIVED, 2, None)
    deliver(runner, sessions, case_id)
    case = case_row(sessions, case_id)
    assert (case.status, case.review_round) == (Status.AWAITING_REVIEW, 2)
    assert case.priority == SEVERITY_PRIORITY["high"]
    assert case.analysis["needs_review"] and case.analysis["category"] == "abuse"
    assert case.analysis["reasons"][0] == "a quality reviewer found abuse after it closed on its own: a slur in dialect"

    # a moderator decides it as any review (the QA reviewer cannot), and the platform acts
    assert client.post(f"/v1/cases/{case_id}/resume", headers=client.as_("qa-quinn"),
                       json={"decision": "remove"}).status_code == 403
    resumed = client.post(f"/v1/cases/{case_id}/resume", headers=client.as_("mod-ana"), json={"decision": "remove"})
    assert resumed.status_code == 202, resumed.text
    deliver(runner, sessions, case_id)
    assert case_row(sessions, case_id).status == Status.CLOSED
    calls = fresh_platform.get("/calls").json()
    assert [(c["action"], c["target_id"]) for c in calls] == [("remove", case.external_id)]
    with sessions() as session:
        [statement] = session.scalars(text("SELECT body FROM statements WHERE case_id = :c"), {"c": case_id}).all()
        seen = session.scalars(text("SELECT type FROM case_events WHERE case_id = :c AND type LIKE 'case.%' "
                                    "ORDER BY case_seq"), {"c": case_id}).all()
    # a person found it, not the automated analysis, and decided it first
    assert statement["automated_detection"] == "No"
    assert statement["decision_facts"].startswith("A human quality reviewer, checking a random sample")
    assert "On appeal" not in statement["decision_facts"]
    # the platform hears it closed, reopened and decided, through the usual events
    assert seen == ["case.analyzing", "case.auto_closed", "case.received", "case.analyzing", "case.awaiting_review",
                    "case.executing", "case.closed"]


def test_a_human_decision_is_sampled_with_the_first_decision_which_the_reviewer_does_not_see(
        runner_with, client, sessions):
    runner = runner_with(qa_auto_rate=0.0, qa_human_rate=1.0)
    case_id = started(runner, sessions, ABUSIVE)
    assert samples(sessions, case_id=case_id) == []  # sent to review: nothing closed yet
    decide(sessions, case_id, "warn", by="mod-ana")
    deliver(runner, sessions, case_id)
    [sample] = samples(sessions, case_id=case_id)
    assert (sample["kind"], sample["first_decision"], sample["category"]) == ("human", "warn", "abuse")

    item = client.post("/v1/qa/next", headers=client.as_("qa-quinn")).json()
    assert "warn" not in json.dumps(item) and "abuse" not in json.dumps(item)
    decided = client.post(f"/v1/qa/{item['sample_id']}/decision", headers=client.as_("qa-quinn"),
                          json={"decision": "remove", "violation": "abuse"})
    assert decided.json()["reopened"] is False  # a person decided it: the disagreement is counted, not replayed
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert client.post("/v1/qa/next", headers=client.as_("qa-quinn")).status_code == 204


def test_nothing_is_drawn_at_rate_zero_and_the_daily_minimum_tops_it_up(runner_with, sessions, engine):
    runner = runner_with(qa_auto_rate=0.0, qa_human_rate=0.0)
    cases = [started(runner, sessions, f"{CLEAN} Day {n}.") for n in range(5)]
    assert samples(sessions) == []
    with engine.begin() as conn:
        assert top_up_samples(conn, minimum=3) == 3
    with engine.begin() as conn:
        assert top_up_samples(conn, minimum=3) == 0  # the day has its three
    drawn = samples(sessions)
    assert {s["reason"] for s in drawn} == {"daily_minimum"} and {s["rate"] for s in drawn} == {0.6}
    assert {s["case_id"] for s in drawn} <= set(cases)


def test_a_sample_outlives_its_purged_case_in_the_figures_but_not_its_content(runner_with, client, sessions, engine):
    runner = runner_with(qa_auto_rate=1.0)
    for n in range(2):  # two samples: one reviewed, one waiting
        started(runner, sessions, f"{CLEAN} {n}")
    item = client.post("/v1/qa/next", headers=client.as_("qa-quinn")).json()
    client.post(f"/v1/qa/{item['sample_id']}/decision", headers=client.as_("qa-quinn"), json={"decision": "dismiss"})
    with engine.begin() as conn:
        conn.execute(text("UPDATE cases SET final_at = now() - interval '10 days'"))
        assert purge_final_cases(conn, keep_days=1).cases == 2
    assert [s["case_id"] for s in samples(sessions)] == [None, None]
    assert client.post("/v1/qa/next", headers=client.as_("qa-quinn")).status_code == 204  # its content is gone
    rates = client.get("/v1/qa/accuracy", params={"from": "2026-01-01", "to": "2030-12-31"},
                       headers=client.as_("sup-cy")).json()
    assert rates["overall"]["miss_rate"]["reviewed"] == 1 and rates["overall"]["miss_rate"]["found"] == 0
    assert client.get("/v1/qa/accuracy", params={"from": "2026-01-01", "to": "2030-12-31"},
                      headers=client.as_("mod-ana")).status_code == 403
    report = client.get("/v1/reports/transparency", params={"from": "2026-01-01", "to": "2030-12-31"},
                        headers=client.as_("admin")).json()
    assert report["accuracy_of_automated_means"]["overall"] == rates["overall"]


def test_sampling_rates_by_tenant_and_category():
    rates = Rates.parse("shop:spam=0.5, shop:*=0.1, *:abuse=0.3", auto=0.02, human=0.01)
    assert rates.of(kind="auto", tenant="shop", category="spam") == 0.5
    assert rates.of(kind="human", tenant="shop", category="clean") == 0.1
    assert rates.of(kind="auto", tenant="forum", category="abuse") == 0.3
    assert (rates.of(kind="auto", tenant="forum", category="clean"), rates.of(kind="human", tenant="forum",
                                                                               category="clean")) == (0.02, 0.01)
    for bad in ("shop=0.5", "shop:spam=2", ":spam=0.1", "shop:spam=lots"):
        with pytest.raises(RatesError):
            Rates.parse(bad, auto=0, human=0)



def test_a_stray_message_for_a_closed_case_draws_no_second_chance(runner_with, sessions):
    shy = runner_with(qa_human_rate=0.0)
    case_id = started(shy, sessions, ABUSIVE)
    decide(sessions, case_id, "remove", by="mod-ana")
    deliver(shy, sessions, case_id)  # closed, not drawn
    eager = runner_with(qa_human_rate=1.0)  # would draw it for sure, were it closing now
    with transaction(sessions) as session:
        stray = enqueue(session, case_id=case_id, kind=CommandKind.RESUME).id
    eager.handle(case_id=str(case_id), message_id=str(stray), kind=CommandKind.RESUME)
    assert case_row(sessions, case_id).status == Status.CLOSED
    assert samples(sessions, case_id=case_id) == []  # it rested closed before that turn: no second draw


def test_the_report_counts_a_case_a_quality_review_reopened_as_found_by_a_person_in_a_first_review(
        runner_with, client, sessions):
    runner = runner_with(qa_auto_rate=1.0, qa_human_rate=0.0)
    case_id = started(runner, sessions, CLEAN)
    item = client.post("/v1/qa/next", headers=client.as_("qa-quinn")).json()
    client.post(f"/v1/qa/{item['sample_id']}/decision", headers=client.as_("qa-quinn"),
                json={"decision": "remove", "violation": "abuse"})
    deliver(runner, sessions, case_id)
    client.post(f"/v1/cases/{case_id}/resume", headers=client.as_("mod-ana"), json={"decision": "remove"})
    deliver(runner, sessions, case_id)
    report = client.get("/v1/reports/transparency", params={"from": "2026-01-01", "to": "2030-12-31"},
                        headers=client.as_("admin")).json()
    assert (report["decisions"]["first_round"], report["decisions"]["on_appeal"]) == (1, 0)
    assert report["automated_detection"]["with_automated_detection"] == 0
    assert report["accuracy_of_automated_means"]["overall"]["miss_rate"]["found"] == 1
