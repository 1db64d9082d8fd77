"""Reading statements of reasons: `GET /v1/cases/{case_id}/statement` for staff and the owning
upstream, and `vigil statements export` as JSON lines in the submission format."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from shared import dsa
from shared.db import transaction
from shared.domain import CommandKind, Role
from shared.keys import create_key
from tests.statements.arrange import ABUSIVE, run
from tests.support.arrange import appeal, decide
from tests.test_cli import vigil


def posted(client, runner, engine, *, external_id: str) -> uuid.UUID:
    """A case posted by the upstream through the api, analysed and decided by the worker."""
    answer = client.post("/v1/cases", headers=client.as_("upstream"), json={
        "external_id": external_id, "content": {"text": ABUSIVE, "author_id": "troll"}})
    case_id = uuid.UUID(answer.json()["case_id"])
    with engine.connect() as conn:
        start = conn.exec_driver_sql("SELECT id FROM outbox WHERE case_id = %(c)s", {"c": case_id}).scalar()
    run(runner, case_id, start, CommandKind.START)
    return case_id


def test_the_statement_is_read_by_staff_and_the_owning_upstream_only(client, runner, sessions, engine):
    case_id = posted(client, runner, engine, external_id="post-read-1")
    run(runner, case_id, decide(sessions, case_id, "remove", by="mod-ana"), CommandKind.RESUME)
    with transaction(sessions) as session:
        other = create_key(session, role=Role.UPSTREAM, name="another-platform")

    for person in ("upstream", "mod-ben", "sup-cy", "admin"):
        answer = client.get(f"/v1/cases/{case_id}/statement", headers=client.as_(person))
        assert answer.status_code == 200, (person, answer.text)
        [statement] = answer.json()["statements"]
        assert statement["round"] == 1 and statement["decision"] == "remove"
        assert dsa.problems(statement["body"]) == []
    assert client.get(f"/v1/cases/{case_id}/statement", headers={"X-API-Key": other}).status_code == 404
    assert client.get(f"/v1/cases/{case_id}/statement").status_code == 401


def test_latest_round_first_and_the_reversal_on_the_appealed_one(client, runner, sessions, engine):
    case_id = posted(client, runner, engine, external_id="post-read-2")
    run(runner, case_id, decide(sessions, case_id, "remove_and_ban", by="mod-ana"), CommandKind.RESUME)
    run(runner, case_id, appeal(sessions, case_id, by="sup-cy"), CommandKind.ROLLBACK)
    run(runner, case_id, decide(sessions, case_id, "remove", by="sup-dee"), CommandKind.RESUME)

    second, first = client.get(f"/v1/cases/{case_id}/statement", headers=client.as_("upstream")).json()["statements"]
    assert (second["round"], second["reversed_at"]) == (2, None)
    assert first["round"] == 1 and first["reversal"]["reversed_actions"] == ["ban", "remove"]


def test_a_case_without_a_statement_is_404_with_a_reason(client, runner, sessions, engine):
    case_id = posted(client, runner, engine, external_id="post-read-3")
    run(runner, case_id, decide(sessions, case_id, "warn", by="mod-ana"), CommandKind.RESUME)
    answer = client.get(f"/v1/cases/{case_id}/statement", headers=client.as_("upstream"))
    assert answer.status_code == 404 and "no statement of reasons" in answer.json()["message"]
    assert client.get(f"/v1/cases/{uuid.uuid4()}/statement", headers=client.as_("admin")).status_code == 404


def test_export_writes_json_lines_in_the_submission_format_since_a_date(settings, client, runner, sessions, engine,
                                                                        tmp_path):
    for n in range(2):
        case_id = posted(client, runner, engine, external_id=f"post-export-{n}")
        run(runner, case_id, decide(sessions, case_id, "remove", by="mod-ana"), CommandKind.RESUME)
    today = datetime.now(UTC).date()
    out = tmp_path / "statements.jsonl"

    done = vigil(settings, "statements", "export", "--since", today.isoformat(), "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["puid"] for line in lines) == ["upstream__post-export-0__r1", "upstream__post-export-1__r1"]
    assert all(dsa.problems(line) == [] for line in lines)

    tomorrow = (today + timedelta(days=1)).isoformat()
    done = vigil(settings, "statements", "export", "--since", tomorrow)
    assert (done.returncode, done.stdout) == (0, "")
    assert vigil(settings, "statements", "export", "--since", "yesterday").returncode == 2
