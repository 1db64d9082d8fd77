"""/v1/webhooks: admins only; bad input is a 422 that writes nothing; a secret is never shown."""

import json

import pytest
from sqlalchemy import func, select

from shared.models import Webhook
from tests.dispatcher.conftest import SECRET

GOOD = {"url": "https://platform.example/vigil/callbacks", "events": ["case.*", "action.executed"], "secret": SECRET}


def webhooks(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Webhook))


def test_an_admin_registers_lists_reads_and_deletes_a_subscriber(client, sessions):
    admin = client.as_("admin")
    created = client.post("/v1/webhooks", headers=admin, json={**GOOD, "tenant": "upstream"})
    assert created.status_code == 201
    hook = created.json()
    assert (hook["url"], hook["events"], hook["tenant"], hook["kind"], hook["created_by"]) == (
        GOOD["url"], GOOD["events"], "upstream", "events", "admin")
    assert (hook["pending"], hook["dead"]) == (0, 0)
    listed = client.get("/v1/webhooks", headers=admin)
    one = client.get(f"/v1/webhooks/{hook['id']}", headers=admin)
    assert [h["id"] for h in listed.json()] == [hook["id"]] and one.json()["id"] == hook["id"]
    for answer in (created, listed, one):
        assert SECRET not in answer.text and "secret" not in answer.text
    with sessions() as session:
        assert session.get(Webhook, hook["id"]).secret == SECRET  # kept, to sign with

    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=admin).status_code == 204
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=admin).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=admin).status_code == 404
    assert webhooks(sessions) == 0


def test_all_of_everything_and_repeated_filters(client):
    hook = client.post("/v1/webhooks", headers=client.as_("admin"), json={
        **GOOD, "url": "http://10.0.0.5:8080/hook?source=vigil", "events": ["*", "case.closed", "case.closed"]})
    assert hook.status_code == 201 and hook.json()["events"] == ["*", "case.closed"] and hook.json()["tenant"] is None


@pytest.mark.parametrize("person", ["upstream", "mod-ana", "sup-cy"])
def test_only_an_admin_may_touch_webhooks(client, sessions, person):
    headers = client.as_(person)
    hook_id = client.post("/v1/webhooks", headers=client.as_("admin"), json=GOOD).json()["id"]
    for method, path, body in [("POST", "/v1/webhooks", GOOD), ("GET", "/v1/webhooks", None),
                               ("GET", f"/v1/webhooks/{hook_id}", None), ("DELETE", f"/v1/webhooks/{hook_id}", None),
                               ("GET", f"/v1/webhooks/{hook_id}/deliveries", None),
                               ("POST", f"/v1/webhooks/{hook_id}/replay", None),
                               ("POST", f"/v1/webhooks/{hook_id}/deliveries/1/replay", None)]:
        answer = client.request(method, path, headers=headers, json=body)
        assert answer.status_code == 403, (method, path)
        assert "admin" in answer.json()["message"]
    assert client.get("/v1/webhooks").status_code == 401
    assert webhooks(sessions) == 1


@pytest.mark.parametrize(("change", "says"), [
    ({"url": "ftp://platform.example/hook"}, "http"),
    ({"url": "platform.example/hook"}, "http"),
    ({"url": "https://user:pass@platform.example/hook"}, "credentials"),
    ({"url": "https:///hook"}, "host"),
    ({"url": "https://platform.example:99999/hook"}, "port"),
    ({"url": "https://platform.example/ho ok"}, "white space"),
    ({"url": "https://platform.example/hook#top"}, "fragment"),
    ({"url": "https://platform.example/" + "a" * 2000}, "2000"),
    ({"events": []}, "at least 1"),
    ({"events": "*"}, "list"),
    ({"events": ["case.nope"]}, "unknown event type"),
    ({"events": ["nope.*"]}, "unknown event type"),
    ({"events": ["case.closed", "*.*"]}, "unknown event type"),
    ({"secret": "too-short"}, "16"),
    ({"secret": "sixteen chars \x00 with a NUL"}, "NUL"),
    ({"tenant": "two words"}, "tenant"),
    ({"kind": "statements"}, "kind"),
    ({"url": None}, "url"),
])
def test_bad_input_is_refused_with_a_reason_and_writes_nothing(client, sessions, change, says):
    body = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    answer = client.post("/v1/webhooks", headers=client.as_("admin"), json=body)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["message"]
    assert webhooks(sessions) == 0


def test_a_key_twice_in_the_body_is_refused(client, sessions):
    raw = json.dumps(GOOD)[:-1] + ', "url": "https://attacker.example/"}'
    answer = client.post("/v1/webhooks", headers={**client.as_("admin"), "Content-Type": "application/json"},
                         content=raw)
    assert answer.status_code == 422 and webhooks(sessions) == 0


def test_deliveries_of_an_unknown_webhook_or_with_a_bad_filter_are_refused(client):
    admin = client.as_("admin")
    hook_id = client.post("/v1/webhooks", headers=admin, json=GOOD).json()["id"]
    unknown = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/v1/webhooks/{unknown}/deliveries", headers=admin).status_code == 404
    assert client.post(f"/v1/webhooks/{unknown}/replay", headers=admin).status_code == 404
    assert client.get(f"/v1/webhooks/{hook_id}/deliveries?status=lost", headers=admin).status_code == 422
    assert client.get(f"/v1/webhooks/{hook_id}/deliveries?cursor=abc", headers=admin).status_code == 422
    assert client.get(f"/v1/webhooks/{hook_id}/deliveries?limit=0", headers=admin).status_code == 422
    assert client.post(f"/v1/webhooks/{hook_id}/deliveries/0/replay", headers=admin).status_code == 422
    assert client.get("/v1/webhooks/not-a-uuid", headers=admin).status_code == 422
    assert client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=admin).json() == {"items": [], "next": None}
