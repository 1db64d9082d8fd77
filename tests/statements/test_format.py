"""The statement's format on its own: the deployment's grounds, the puid, the settings' checks."""

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared import dsa, statements
from shared.settings import Settings

RECEIVED = datetime(2026, 5, 1, 12, tzinfo=UTC)


def body(grounds: str | None = None, **overrides) -> dict:
    facts = {"tenant": "forum", "external_id": "p-1", "round": 1, "restrictions": ["remove"],
             "analysis": {"category": "personal_data", "severity": "high"}, "metadata": {},
             "received_at": RECEIVED, "grounds": statements.parse_grounds(grounds)}
    return statements.build(**facts | overrides)


def test_a_deployment_states_a_legal_ground_for_a_category():
    grounds = json.dumps({"personal_data": {
        "ground": "GDPR Art. 6", "explanation": "Published without consent.", "illegal": True,
        "reference_url": "https://eur-lex.europa.eu/eli/reg/2016/679"}})
    stated = body(grounds)
    assert dsa.problems(stated) == []
    assert (stated["decision_ground"], stated["illegal_content_legal_ground"]) == (
        "DECISION_GROUND_ILLEGAL_CONTENT", "GDPR Art. 6")
    assert "incompatible_content_ground" not in stated
    assert stated["decision_ground_reference_url"].startswith("https://eur-lex")
    assert body()["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"  # the built-in default


@pytest.mark.parametrize("grounds, problem", [
    ("not json", "not JSON"),
    ('{"hate": {"ground": "g", "explanation": "e"}}', "unknown categories"),
    ('{"abuse": {"ground": "g"}}', "explanation"),
    ('{"abuse": {"ground": "g", "explanation": "e", "reference_url": "ftp://x"}}', "reference_url"),
])
def test_bad_grounds_are_refused_when_the_settings_are_read(grounds, problem):
    with pytest.raises(ValidationError, match=problem):
        Settings(statement_grounds=grounds, _env_file=None)


def test_the_puid_keeps_to_the_databases_characters_and_names_one_statement():
    names = {statements.puid(tenant=tenant, external_id=external_id, round=round)
             for tenant, external_id, round in [("a_b", "c", 1), ("a", "b_c", 1), ("a", "b/c", 1), ("a", "b c", 1),
                                                ("a", "b", 1), ("a", "b", 2), ("forum", "héllo", 1)]}
    assert len(names) == 7 and all(dsa.PUID.fullmatch(name) for name in names)
    assert statements.puid(tenant="forum", external_id="post-1", round=1) == "forum__post-1__r1"


def test_the_puid_of_any_external_id_fits_the_databases_500_characters_and_stays_unique():
    long_ids = ["é/" * 100, "é/" * 99 + "é_", "a" * 200, "a" * 199 + "b", "_" * 200]
    names = {statements.puid(tenant=tenant, external_id=external_id, round=round)
             for tenant in ("forum", "t" * 200) for external_id in long_ids for round in (1, 2)}
    assert len(names) == 2 * len(long_ids) * 2
    assert all(dsa.PUID.fullmatch(name) and len(name) <= 500 for name in names)
    # Stable: the same content and round always get the same name (a statement sent again is the same one).
    assert statements.puid(tenant="forum", external_id="é/" * 100, round=1) == statements.puid(
        tenant="forum", external_id="é/" * 100, round=1)
    digest_form = statements.puid(tenant="forum", external_id="é/" * 100, round=1)
    assert digest_form.startswith("forum___C3_A9_2F") and digest_form.endswith("__d1")


def test_what_the_upstream_says_in_metadata_and_nothing_else():
    stated = body(metadata={"source": "notice", "language": "de", "account_type": "business",
                            "posted_at": "2026-04-30", "author_email": "jane@example.org"})
    assert (stated["source_type"], stated["content_language"], stated["account_type"], stated["content_date"]) == (
        "SOURCE_ARTICLE_16", "DE", "ACCOUNT_TYPE_BUSINESS", "2026-04-30")
    assert "jane" not in json.dumps(stated)
    odd = body(metadata={"source": "rumour", "language": "xx", "posted_at": "2030-01-01"})
    assert (odd["source_type"], odd.get("content_language"), odd["content_date"]) == (
        "SOURCE_VOLUNTARY", None, "2026-05-01")  # (the intake refuses it) a posting date after receipt is not used


@pytest.mark.parametrize(("posted_at", "problem"), [
    ("2999-01-01", "in the future"), ("2026-01-01T10:00:00", "no UTC offset"), ("yesterday", "not an ISO 8601"),
    ("1999-12-31", "before 2000-01-01"), (20260101, "must be an ISO 8601"),
])
def test_the_intake_refuses_a_posting_date_it_could_not_report(client, posted_at, problem):
    answer = client.post("/v1/cases", headers=client.as_("upstream"), json={
        "external_id": "post-1", "content": {"text": "hello", "author_id": "u-1"}, "metadata": {"posted_at": posted_at}})
    assert answer.status_code == 422 and problem in answer.text
    assert client.get("/v1/cases", headers=client.as_("admin")).json()["items"] == []  # nothing written


def test_territorial_scope_setting():
    assert statements.parse_territorial_scope("eu") == dsa.EU
    assert statements.parse_territorial_scope("DE, at") == ("AT", "DE")
    with pytest.raises(ValidationError, match="US"):
        Settings(statement_territorial_scope="DE,US", _env_file=None)
