"""An API a client generator can use: the key scheme declared on every route, no query parameter
ignored in silence, list items that say whose they are, and an upstream that finds its own cases."""

import pytest

from shared.db import transaction
from shared.domain import Role
from shared.keys import create_key
from tests.support.arrange import post_case


def test_the_openapi_document_declares_the_key_on_every_authenticated_route(client):
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"]}
    operations = [(path, method, operation) for path, item in document["paths"].items() if path.startswith("/v1/")
                  for method, operation in item.items()]
    assert len(operations) > 20
    assert [(path, method) for path, method, op in operations if op.get("security") != [{"ApiKey": []}]] == []


@pytest.mark.parametrize(("path", "unknown"), [
    ("/v1/cases?tenant_id=upstream", "tenant_id"),
    ("/v1/cases?status=closed&externalid=post-1", "externalid"),
    ("/v1/webhooks?tenant=upstream", "tenant"),
    ("/v1/reports/transparency?from=2026-01-01&to=2026-01-31&format=csv", "format"),
    ("/v1/me?debug=1", "debug"),
])
def test_an_unknown_query_parameter_is_a_422_naming_it(client, path, unknown):
    answer = client.get(path, headers=client.as_("admin"))
    assert answer.status_code == 422, answer.text
    assert f"unknown query parameter(s): {unknown}" in answer.json()["message"]


def test_list_items_carry_their_tenant_and_staff_filter_by_tenant_or_external_id(client, sessions):
    mine, _ = post_case(sessions, text="hello", external_id="post-1", tenant="upstream")
    theirs, _ = post_case(sessions, text="hello", external_id="post-1", tenant="other-platform")
    items = client.get("/v1/cases", headers=client.as_("mod-ana")).json()["items"]
    assert {(i["case_id"], i["tenant"]) for i in items} == {(str(mine), "upstream"), (str(theirs), "other-platform")}
    both = client.get("/v1/cases?external_id=post-1", headers=client.as_("mod-ana")).json()["items"]
    assert len(both) == 2
    one = client.get("/v1/cases?external_id=post-1&tenant=other-platform", headers=client.as_("mod-ana")).json()
    assert [i["case_id"] for i in one["items"]] == [str(theirs)]


def test_an_upstream_key_lists_and_finds_only_its_own_cases(client, sessions):
    mine, _ = post_case(sessions, text="hello", external_id="post-1", tenant="upstream")
    post_case(sessions, text="hello", external_id="post-1", tenant="other-platform")
    post_case(sessions, text="hello", external_id="post-2", tenant="other-platform")
    key = client.as_("upstream")
    assert [i["case_id"] for i in client.get("/v1/cases", headers=key).json()["items"]] == [str(mine)]
    found = client.get("/v1/cases?external_id=post-1", headers=key).json()["items"]
    assert [(i["case_id"], i["tenant"]) for i in found] == [(str(mine), "upstream")]
    assert client.get("/v1/cases?external_id=post-2", headers=key).json()["items"] == []
    refused = client.get("/v1/cases?tenant=other-platform", headers=key)
    assert refused.status_code == 403 and "own tenant" in refused.json()["message"]


def test_an_upstream_key_with_a_tenant_of_its_own_sees_that_tenant(client, sessions):
    with transaction(sessions) as session:
        key = create_key(session, role=Role.UPSTREAM, name="market-ingest", tenant="market")
    case_id, _ = post_case(sessions, text="hello", external_id="ad-9", tenant="market")
    post_case(sessions, text="hello", external_id="ad-9", tenant="upstream")
    found = client.get("/v1/cases?external_id=ad-9", headers={"X-API-Key": key}).json()["items"]
    assert [i["case_id"] for i in found] == [str(case_id)]
