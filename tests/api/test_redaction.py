"""Probe point 8: a secret leaked in a case is masked for the people who review it, and the raw
text stays available to those whose data it is (the posting upstream) and to admins."""

from sqlalchemy import update

from shared.db import transaction
from shared.models import Case
from tests.support.arrange import started

LEAK = "here is our prod key AKIAIOSFODNN7EXAMPLE, write to ops@example.com you idiot"


def test_reviewers_read_the_text_masked_and_the_poster_and_admins_read_it_raw(runner, sessions, client):
    case_id = str(started(runner, sessions, LEAK))
    for reviewer in ("mod-ana", "sup-cy"):
        case = client.get(f"/v1/cases/{case_id}", headers=client.as_(reviewer)).json()
        assert case["status"] == "awaiting_review"  # so the review payload's copy of the text is shown too
        shown = [case["content"]["text"], case["review"]["content"]["text"]]
        assert all("AKIAIOSFODNN7EXAMPLE" not in text and "ops@example.com" not in text for text in shown), shown
        assert "AKIA" in case["content"]["text"] and case["content"]["redacted"] is True
        assert "AKIAIOSFODNN7EXAMPLE" not in repr(case)
    for owner in ("upstream", "admin"):
        assert client.get(f"/v1/cases/{case_id}", headers=client.as_(owner)).json()["content"]["text"] == LEAK


def test_before_its_analysis_a_reviewer_sees_no_text(client, case_in, sessions):
    case_id = case_in("received")
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(analysis=None))
    case = client.get(f"/v1/cases/{case_id}", headers=client.as_("mod-ana")).json()
    assert case["content"]["text"].startswith("[withheld")
    assert client.get(f"/v1/cases/{case_id}", headers=client.as_("admin")).json()["content"]["text"] == "some words"
