"""The whole role × endpoint matrix: each role gets through exactly where the contract says."""

import pytest
from sqlalchemy import func, update

from shared.models import ApiKey

ROLES = {"upstream": "upstream", "moderator": "mod-ana", "supervisor": "sup-cy", "admin": "admin", "qa": "qa-quinn"}
# endpoint → the roles allowed; a refused role gets 403 before any state check.
MATRIX = {
    ("POST", "/v1/cases"): {"upstream", "admin"},
    ("GET", "/v1/cases"): {"upstream", "moderator", "supervisor", "admin"},
    ("GET", "/v1/cases/{id}"): {"upstream", "moderator", "supervisor", "admin"},
    ("GET", "/v1/cases/{id}/events"): {"upstream", "moderator", "supervisor", "admin"},
    ("GET", "/v1/cases/{id}/feed"): {"upstream", "moderator", "supervisor", "admin"},
    ("GET", "/v1/me"): {"upstream", "moderator", "supervisor", "admin", "qa"},  # qa: only /v1/qa besides
    ("POST", "/v1/cases/{id}/resume"): {"moderator"},  # round 1
    ("POST", "/v1/cases/{id}/rollback"): {"supervisor"},
    ("POST", "/v1/cases/{id}/retry"): {"admin"},
}
BODIES = {
    "/v1/cases": {"external_id": "matrix", "content": {"text": "hi", "author_id": "u"}},
    "/v1/cases/{id}/resume": {"decision": "warn"},
    "/v1/cases/{id}/rollback": {"reason": "because"},
}
STATE_FOR = {"/v1/cases/{id}/resume": "awaiting_review", "/v1/cases/{id}/rollback": "closed",
             "/v1/cases/{id}/retry": "failed"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), MATRIX)
def test_role_matrix(client, case_in, rows, method, path, role):
    case_id = case_in(STATE_FOR.get(path, "closed"), error={"status": "executing"})
    before = rows()
    answer = client.request(method, path.replace("{id}", case_id), json=BODIES.get(path) if method == "POST" else None,
                            headers=client.as_(ROLES[role]))
    if role in MATRIX[(method, path)]:
        assert answer.status_code in (200, 202), answer.json()
    else:
        assert answer.status_code == 403, answer.json()
        assert answer.json()["error"] == "forbidden" and answer.json()["message"]
        assert rows() == before


@pytest.mark.parametrize(("person", "expected"), [("upstream", 403), ("mod-ana", 403), ("mod-ben", 403), ("admin", 403),
                                                  ("sup-cy", 403), ("sup-dee", 202)])
def test_a_second_round_is_decided_by_a_supervisor_other_than_the_appealed_decider(client, case_in, rows, person, expected):
    case_id = case_in("awaiting_review", round=2, decided_by="sup-cy")  # sup-cy decided round 1
    before = rows()
    answer = client.post(f"/v1/cases/{case_id}/resume", json={"decision": "warn"}, headers=client.as_(person))
    assert answer.status_code == expected, answer.json()
    if expected == 403:
        assert rows() == before


@pytest.mark.parametrize(("method", "path"), MATRIX)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "vgl_not-a-key"}])
def test_every_endpoint_wants_a_known_key(client, case_in, rows, method, path, headers):
    case_id = case_in(STATE_FOR.get(path, "closed"), error={"status": "executing"})
    before = rows()
    answer = client.request(method, path.replace("{id}", case_id), json=BODIES.get(path), headers=headers)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert rows() == before


def test_a_revoked_key_is_refused(client, sessions, keys):
    with sessions.begin() as session:
        session.execute(update(ApiKey).where(ApiKey.name == "mod-ben").values(revoked_at=func.now()))
    answer = client.get("/v1/cases", headers=client.as_("mod-ben"))
    assert answer.status_code == 401 and "revoked" in answer.json()["message"]
