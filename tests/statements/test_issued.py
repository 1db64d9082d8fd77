"""Statements of reasons: issued by the worker when a restricting decision executed, in the DSA
Transparency Database's format, without personal data, reversed after an appeal."""

import json

from psycopg.types.json import Jsonb
from sqlalchemy import text

from shared import dsa
from shared.domain import CommandKind
from services.worker.statements import ISSUE
from tests.statements.arrange import ABUSIVE, SPAM, receive, run
from tests.support.arrange import appeal, decide

NOTE = "Checked the poster's history: repeat offender, see ticket 4711"


def statements_of(engine, case_id) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(
            "SELECT round, decision, body, issued_at, reversed_at, reversal FROM statements WHERE case_id = :c"
            " ORDER BY round"), {"c": case_id})]


def events_of(engine, case_id, type: str) -> list[dict]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT data FROM case_events WHERE case_id = :c AND type = :t ORDER BY seq"),
                                 {"c": case_id, "t": type}).scalars())


def decided(runner, sessions, decision: str, *, text: str = ABUSIVE, author_id: str = "troll-42",
            metadata: dict | None = None, external_id: str | None = None):
    case_id, start = receive(sessions, text=text, author_id=author_id, metadata=metadata, external_id=external_id)
    run(runner, case_id, start, CommandKind.START)
    run(runner, case_id, decide(sessions, case_id, decision, by="mod-ana", note=NOTE), CommandKind.RESUME)
    return case_id


def test_the_spec_enumerations_are_the_databases():
    # As validated by the Transparency Database (app/Models/Statement.php, StatementStoreRequest.php).
    assert dsa.DECISION_VISIBILITY == {
        "DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED", "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED", "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER"}
    assert dsa.DECISION_ACCOUNT == {"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"}
    assert dsa.DECISION_GROUND == {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
    assert dsa.SOURCE_TYPE == {"SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION",
                               "SOURCE_VOLUNTARY"}
    assert dsa.AUTOMATED_DECISION == {"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY",
                                      "AUTOMATED_DECISION_NOT_AUTOMATED"}
    assert dsa.YES_NO == {"Yes", "No"}
    assert "CONTENT_TYPE_TEXT" in dsa.CONTENT_TYPE and len(dsa.CONTENT_TYPE) == 8
    assert len(dsa.CATEGORY) == 16 and all(c.startswith("STATEMENT_CATEGORY_") for c in dsa.CATEGORY)
    assert len(dsa.EEA) == 30 and "GR" in dsa.EU and "NO" not in dsa.EU


def test_a_removal_and_ban_issues_one_statement_within_the_enumerations(runner, sessions, engine):
    case_id = decided(runner, sessions, "remove_and_ban", external_id="thread/77#post:9")

    [statement] = statements_of(engine, case_id)
    body = statement["body"]
    assert (statement["round"], statement["decision"], statement["reversed_at"]) == (1, "remove_and_ban", None)
    assert dsa.problems(body) == []
    assert body["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert body["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert body["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert body["incompatible_content_ground"] and body["incompatible_content_explanation"]
    assert body["category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    assert body["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert body["source_type"] == "SOURCE_VOLUNTARY"  # the upstream did not say it came from a notice
    assert (body["automated_detection"], body["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_NOT_AUTOMATED")
    assert body["application_date"] == statement["issued_at"].date().isoformat()
    # The content's id on the platform, tenant first, in the characters the database allows.
    assert body["puid"] == "upstream__thread_2F77_23post_3A9__r1"
    # The subscribers (and the DSA endpoint's batches) get exactly the body.
    assert events_of(engine, case_id, "statement.issued") == [body]


def test_a_statement_holds_no_personal_data(runner, sessions, engine):
    case_id = decided(runner, sessions, "remove_and_ban", author_id="troll-42")
    everything = json.dumps(statements_of(engine, case_id)[0]["body"] | {"events": events_of(engine, case_id,
                                                                                              "statement.issued")})
    for personal in ("troll-42", "mod-ana", NOTE, "ticket 4711", "worthless idiot", ABUSIVE):
        assert personal not in everything


def test_warn_and_dismiss_issue_none(runner, sessions, engine):
    for decision in ("warn", "dismiss"):
        case_id = decided(runner, sessions, decision)
        assert statements_of(engine, case_id) == []
        assert events_of(engine, case_id, "statement.issued") == []


def test_a_removal_only_says_what_took_effect(runner, sessions, engine, fresh_platform):
    removed = decided(runner, sessions, "remove", text=SPAM, metadata={"source": "trusted_flagger", "language": "en",
                                                                    "posted_at": "2026-01-02T10:00:00Z"})
    body = statements_of(engine, removed)[0]["body"]
    assert "decision_account" not in body
    assert body["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert (body["source_type"], body["content_language"], body["content_date"]) == (
        "SOURCE_TRUSTED_FLAGGER", "EN", "2026-01-02")
    # The platform refuses the removal (the plan's first call): the statement reports the suspension alone.
    case_id, start = receive(sessions, text=ABUSIVE, author_id="untouchable")
    run(runner, case_id, start, CommandKind.START)
    resume = decide(sessions, case_id, "remove_and_ban", by="mod-ana")
    fresh_platform.post("/_admin/faults", json={"status": 403, "count": 1}).raise_for_status()
    run(runner, case_id, resume, CommandKind.RESUME)
    body = statements_of(engine, case_id)[0]["body"]
    assert "decision_visibility" not in body and body["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert "suspended the account" in body["decision_facts"] and "removed" not in body["decision_facts"]
    assert dsa.problems(body) == []


def test_a_message_delivered_again_issues_nothing_twice(runner, sessions, engine):
    case_id, start = receive(sessions, text=ABUSIVE)
    run(runner, case_id, start, CommandKind.START)
    resume = decide(sessions, case_id, "remove", by="mod-ana")
    run(runner, case_id, resume, CommandKind.RESUME)
    run(runner, case_id, resume, CommandKind.RESUME)
    assert len(statements_of(engine, case_id)) == 1
    assert len(events_of(engine, case_id, "statement.issued")) == 1
    # The runner drops that delivery before any statement runs; a turn that does run the issue
    # again (its batch retried after a crash) finds the round's statement and event already there.
    [statement] = statements_of(engine, case_id)
    with engine.begin() as conn:
        again = conn.exec_driver_sql(ISSUE, {"case_id": case_id, "round": 1, "decision": "remove",
                                             "bodies": Jsonb({"remove": statement["body"]})}).scalar()
    assert again == 0
    assert len(statements_of(engine, case_id)) == 1
    assert len(events_of(engine, case_id, "statement.issued")) == 1


def appealed(runner, sessions, case_id, decision: str) -> None:
    run(runner, case_id, appeal(sessions, case_id, by="sup-cy", reason="the author says it was a joke"),
        CommandKind.ROLLBACK)
    run(runner, case_id, decide(sessions, case_id, decision, by="sup-dee"), CommandKind.RESUME)


def test_an_appeal_that_overturns_reverses_the_statement_when_it_is_decided(runner, sessions, engine):
    case_id = decided(runner, sessions, "remove_and_ban")
    run(runner, case_id, appeal(sessions, case_id, by="sup-cy", reason="the author says it was a joke"),
        CommandKind.ROLLBACK)
    [first] = statements_of(engine, case_id)
    assert first["reversed_at"] is None  # undone while the second review runs, but not decided yet

    run(runner, case_id, decide(sessions, case_id, "warn", by="sup-dee"), CommandKind.RESUME)
    [first] = statements_of(engine, case_id)
    assert first["reversed_at"] is not None
    assert (first["reversal"]["appeal_round"], first["reversal"]["decision"]) == (2, "warn")
    assert sorted(first["reversal"]["reversed_actions"]) == ["ban", "remove"]
    [reversed_event] = events_of(engine, case_id, "statement.reversed")
    assert reversed_event["puid"] == first["body"]["puid"] and reversed_event["round"] == 1
    assert "sup-cy" not in json.dumps(reversed_event) and "joke" not in json.dumps(first["reversal"])


def test_an_appeal_that_upholds_leaves_the_statement_standing_and_issues_none(runner, sessions, engine):
    case_id = decided(runner, sessions, "remove")
    appealed(runner, sessions, case_id, "remove")
    [first] = statements_of(engine, case_id)
    assert (first["round"], first["reversed_at"], first["reversal"]) == (1, None, None)
    assert events_of(engine, case_id, "statement.reversed") == []
    assert len(events_of(engine, case_id, "statement.issued")) == 1


def test_an_appeal_that_restricts_otherwise_reverses_the_first_and_issues_its_own(runner, sessions, engine):
    case_id = decided(runner, sessions, "remove_and_ban")
    appealed(runner, sessions, case_id, "remove")
    first, second = statements_of(engine, case_id)
    assert first["reversed_at"] is not None and first["reversal"]["decision"] == "remove"
    assert second["round"] == 2 and second["reversed_at"] is None
    assert second["body"]["puid"].endswith("__r2") and second["body"]["puid"] != first["body"]["puid"]
    assert "On appeal" in second["body"]["decision_facts"] and "decision_account" not in second["body"]


def test_a_notice_is_not_automated_detection_and_the_posting_date_is_the_platforms(runner, sessions, engine):
    noticed = decided(runner, sessions, "remove", metadata={"source": "notice", "posted_at": "2025-02-03T23:30:00-02:00"})
    body = statements_of(engine, noticed)[0]["body"]
    assert (body["source_type"], body["automated_detection"]) == ("SOURCE_ARTICLE_16", "No")
    assert body["decision_facts"].startswith("A notice (DSA Art. 16) reported the content")
    assert body["content_date"] == "2025-02-04"  # as said, in UTC
    screened = decided(runner, sessions, "remove")
    assert statements_of(engine, screened)[0]["body"]["automated_detection"] == "Yes"  # the analyser found it
