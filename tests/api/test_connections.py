"""/v1/connections and `vigil connections`: versioned, admin only, secrets sealed and never shown."""

import psycopg
import pytest
from fastapi.testclient import TestClient

from shared import secretbox
from services.api.app import create_app
from tests.support.cli import vigil

URL = "https://platform-b.example/api"
SECRET = "a-secret-of-sixteen-or-more"


def put(client, tenant="tenant-b", who="admin", **body):
    return client.put(f"/v1/connections/{tenant}", json={"base_url": URL, **body}, headers=client.as_(who))


def stored(settings, tenant="tenant-b") -> list[tuple]:
    with psycopg.connect(settings.libpq_url) as conn:
        return conn.execute("SELECT version, base_url, secret FROM platform_connections WHERE tenant = %s"
                            " ORDER BY version", (tenant,)).fetchall()


def test_each_change_is_a_version_that_says_who_changed_what_and_the_secret_never_comes_back(client, settings):
    first = put(client, secret=SECRET)
    assert first.status_code == 200, first.text
    assert first.json() | {"created_at": None} == {
        "tenant": "tenant-b", "version": 1, "base_url": URL, "timeout": None, "signed": True, "removed": False,
        "changed": ["base_url", "secret"], "created_by": "admin", "created_at": None,
        "statements_url": None, "statements_kind": None, "statements_token": False}
    second = put(client, timeout=2.5).json()  # no secret given: the current one stays
    assert (second["version"], second["changed"], second["signed"], second["timeout"]) == (2, ["timeout"], True, 2.5)

    history = client.get("/v1/connections/tenant-b", headers=client.as_("admin"))
    assert [v["version"] for v in history.json()] == [2, 1]
    assert [c["tenant"] for c in client.get("/v1/connections", headers=client.as_("admin")).json()] == ["tenant-b"]
    for answer in (first, history):
        assert SECRET not in answer.text
    (_, _, sealed_1), (_, _, sealed_2) = stored(settings)
    assert SECRET.encode() not in bytes(sealed_1) and sealed_1 == sealed_2
    assert settings.secret_box.open(sealed_1, context="tenant-b") == SECRET


def test_removing_sends_the_tenant_back_to_the_default_and_keeps_the_history(client):
    put(client, secret=SECRET)
    assert client.delete("/v1/connections/tenant-b", headers=client.as_("admin")).status_code == 204
    assert client.get("/v1/connections", headers=client.as_("admin")).json() == []
    latest = client.get("/v1/connections/tenant-b", headers=client.as_("admin")).json()[0]
    assert (latest["version"], latest["removed"], latest["signed"]) == (2, True, False)
    assert client.delete("/v1/connections/tenant-b", headers=client.as_("admin")).status_code == 404


@pytest.mark.parametrize("who", ["upstream", "mod-ana", "sup-cy"])
def test_only_an_admin_sees_or_changes_connections(client, settings, who):
    assert put(client, who=who, secret=SECRET).status_code == 403
    assert client.get("/v1/connections", headers=client.as_(who)).status_code == 403
    assert stored(settings) == []


@pytest.mark.parametrize(("body", "says"), [
    ({"base_url": "ftp://platform"}, "http"),
    ({"base_url": "https://user:pw@platform"}, "credentials"),
    ({"base_url": URL, "secret": "short"}, "16"),
    ({"base_url": URL, "timeout": 0}, "timeout"),
    ({"base_url": URL, "colour": "red"}, "colour"),
    ({"base_url": URL, "statements_token": "a-token-of-sixteen-chars"}, "statements_url"),
    ({"base_url": URL, "statements_url": "https://db.example/api", "statements_kind": "fax"}, "statements_kind"),
])
def test_a_bad_connection_is_a_422_that_writes_nothing(client, settings, body, says):
    answer = client.put("/v1/connections/tenant-b", json=body, headers=client.as_("admin"))
    assert answer.status_code == 422 and says in answer.text
    assert stored(settings) == []


def test_a_secret_is_not_stored_without_keys_to_seal_it(client, settings):
    with TestClient(create_app(settings.model_copy(update={"secret_keys": None}))) as keyless:
        answer = keyless.put("/v1/connections/tenant-b", json={"base_url": URL, "secret": SECRET},
                             headers=client.as_("admin"))
    assert answer.status_code == 503 and "SECRET_KEYS" in answer.json()["message"]
    assert stored(settings) == []


def test_a_sealed_secret_opens_only_for_its_own_tenant(client, settings):
    put(client, secret=SECRET)
    [(_, _, sealed)] = stored(settings)
    with pytest.raises(secretbox.SecretsUnavailable, match="moved from another row"):
        settings.secret_box.open(sealed, context="tenant-c")


def test_the_cli_sets_lists_and_reseals_under_a_new_key(settings):
    token = "X|the-database-token-of-tenant-b"
    set_ = vigil(settings, "connections", "set", "tenant-b", "--url", URL, "--secret-stdin",
                 "--statements-url", "https://db.example/api/v1/statements", "--statements-token-stdin",
                 input=f"{SECRET}\n{token}\n")
    assert set_.returncode == 0, set_.stderr
    assert "tenant-b: version 1" in set_.stdout and "signed" in set_.stdout and SECRET not in set_.stdout
    assert "statements to https://db.example/api/v1/statements (dsa-transparency-db, with a token)" in set_.stdout
    listed = vigil(settings, "connections", "list")
    assert URL in listed.stdout and SECRET not in listed.stdout and token not in listed.stdout

    new_key = secretbox.new_key()
    rotated = settings.model_copy(update={"secret_keys": f"{new_key},{settings.secret_keys.get_secret_value()}"})
    resealed = vigil(rotated, "connections", "reencrypt")
    assert resealed.returncode == 0 and "1 connection version(s) sealed again" in resealed.stdout, resealed.stderr
    [(_, _, sealed)] = stored(settings)
    assert secretbox.SecretBox.of(new_key).open(sealed, context="tenant-b") == SECRET  # the new key alone opens it
    with psycopg.connect(settings.libpq_url) as conn:
        [sealed_token] = conn.execute("SELECT statements_token FROM platform_connections").fetchone()
    assert secretbox.SecretBox.of(new_key).open(sealed_token, context="tenant-b") == token  # the token too
    assert "0 connection version(s)" in vigil(rotated, "connections", "reencrypt").stdout


def test_history_cannot_be_rewritten_only_resealed(client, settings):
    put(client, secret=SECRET)
    with psycopg.connect(settings.libpq_url) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="keeps its history"):
            conn.execute("UPDATE platform_connections SET base_url = 'https://elsewhere'")
    with psycopg.connect(settings.libpq_url) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="keeps its history"):
            conn.execute("DELETE FROM platform_connections")
