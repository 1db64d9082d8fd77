"""Bad input gets a 4xx that says what is wrong, and writes nothing; no input causes a 500."""

import uuid

import pytest

GOOD = {"external_id": "forum-9", "content": {"text": "hello", "author_id": "u-1"}}


@pytest.mark.parametrize(("body", "says"), [
    ({"content": {"text": "x", "author_id": "u"}}, "external_id"),
    (GOOD | {"external_id": ""}, "external_id"),
    (GOOD | {"external_id": "has space"}, "external_id"),
    (GOOD | {"external_id": "x" * 201}, "external_id"),
    (GOOD | {"content": {"text": "", "author_id": "u"}}, "content.text"),
    (GOOD | {"content": {"text": 5, "author_id": "u"}}, "content.text"),
    (GOOD | {"content": {"text": "a\x00b", "author_id": "u"}}, "NUL"),
    (GOOD | {"content": {"text": "hi", "author_id": "u", "extra": 1}}, "extra"),
    (GOOD | {"surprise": True}, "surprise"),
    (GOOD | {"metadata": {f"k{n}": n for n in range(51)}}, "50 keys"),
    (GOOD | {"metadata": {"k": "nul\x00"}}, "NUL"),
    (GOOD | {"metadata": []}, "metadata"),
    (GOOD | {"metadata": {"deep": [[[[[[[[[[[[[[[[[["too deep"]]]]]]]]]]]]]]]]]]}}, "16 levels"),
    (GOOD | {"content": {"text": "hi", "author_id": "u 1"}}, "author_id"),
    (GOOD | {"content": "hello"}, "content"),
    (GOOD | {"external_id": 42}, "external_id"),
    ([], "body"),
    ("just a string", "body"),
])
def test_invalid_cases_are_422_and_write_nothing(client, rows, body, says):
    before = rows()
    answer = client.post("/v1/cases", json=body, headers=client.as_("upstream"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid" and says in answer.text
    assert rows() == before


def test_text_over_the_configured_limit_is_422(client, rows, settings):
    before = rows()
    body = GOOD | {"content": {"text": "a" * (settings.max_text_chars + 1), "author_id": "u"}}
    answer = client.post("/v1/cases", json=body, headers=client.as_("upstream"))
    assert answer.status_code == 422 and str(settings.max_text_chars) in answer.json()["message"]
    assert rows() == before


@pytest.mark.parametrize(("raw", "says"), [
    (b'{"external_id": "x", "content": {"text": "\\ud800", "author_id": "u"}}', "Unicode"),
    (b'{"external_id": "x", "content": {"text": "a", "author_id": "u"}, "metadata": {"n": NaN}}', "finite"),
    (b'{"external_id": "x", "content": {"text": "a", "author_id": "u"}, "metadata": {"n": 1e999}}', "finite"),
    (b'{"external_id": "x", "content": {"text": "a", "author_id": "u"}, "metadata": {"n": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "body"),
])
def test_json_that_postgres_cannot_store_is_422_and_says_why(client, rows, raw, says):
    before = rows()
    answer = client.post("/v1/cases", content=raw, headers=client.as_("upstream") | {"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["message"]
    assert rows() == before


def test_malformed_json_is_422(client, rows):
    before = rows()
    answer = client.post("/v1/cases", content=b'{"external_id": ', headers=client.as_("upstream") | {"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["error"] == "invalid"
    assert rows() == before


def test_a_body_over_the_limit_is_413(client, rows, settings):
    before = rows()
    big = GOOD | {"metadata": {"blob": "x" * settings.max_body_bytes}}
    answer = client.post("/v1/cases", json=big, headers=client.as_("upstream"))
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    assert rows() == before


def test_a_streamed_body_over_the_limit_is_413_even_without_content_length(client, settings):
    def chunks():
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    answer = client.post("/v1/cases", content=chunks(), headers=client.as_("upstream") | {"Content-Type": "application/json"})
    assert answer.status_code == 413


@pytest.mark.parametrize("path", ["/v1/cases/{id}", "/v1/cases/{id}/events"])
def test_unknown_and_malformed_case_ids(client, path):
    unknown = client.get(path.replace("{id}", str(uuid.uuid4())), headers=client.as_("mod-ana"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    malformed = client.get(path.replace("{id}", "not-a-uuid"), headers=client.as_("mod-ana"))
    assert malformed.status_code == 422 and "case_id" in malformed.json()["message"]


@pytest.mark.parametrize("body", [{"decision": "obliterate"}, {"decision": "warn", "note": "x" * 2001}, {"decision": None},
                                  {"decision": "warn", "by": "someone-else"}, {}, {"decision": ["warn"]},
                                  {"decision": "warn", "note": 7}, {"decision": "reanalyze", "note": "   "}, [], "warn"])
def test_invalid_decisions_are_422_and_write_nothing(client, case_in, rows, body):
    case_id = case_in("awaiting_review")
    before = rows()
    answer = client.post(f"/v1/cases/{case_id}/resume", json=body, headers=client.as_("mod-ana"))
    assert answer.status_code == 422, answer.text
    assert rows() == before


@pytest.mark.parametrize(("command", "who", "body"), [
    ("resume", "mod-ana", {"decision": "warn"}), ("rollback", "sup-cy", {"reason": "x"}), ("retry", "admin", None)])
def test_a_command_on_an_unknown_case_is_404_and_on_a_malformed_id_422(client, rows, command, who, body):
    before = rows()
    unknown = client.post(f"/v1/cases/{uuid.uuid4()}/{command}", json=body, headers=client.as_(who))
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    malformed = client.post(f"/v1/cases/1%3B%20drop/{command}", json=body, headers=client.as_(who))
    assert malformed.status_code == 422 and "case_id" in malformed.json()["message"]
    assert rows() == before


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x" * 2001}, {"reason": "x", "extra": 1}, {"reason": 5}])
def test_invalid_appeals_are_422_and_write_nothing(client, case_in, rows, body):
    case_id = case_in("closed")
    before = rows()
    answer = client.post(f"/v1/cases/{case_id}/rollback", json=body, headers=client.as_("sup-cy"))
    assert answer.status_code == 422 and answer.json()["error"] == "invalid", answer.text
    assert rows() == before


@pytest.mark.parametrize("params", [{"status": "bogus"}, {"limit": 0}, {"limit": 101}, {"limit": "many"}, {"cursor": "abc"},
                                    {"cursor": "-1"}, {"cursor": "²"}, {"cursor": "٣"}, {"cursor": "9" * 20}, {"cursor": ""}])
def test_bad_listing_parameters_are_422(client, params):
    answer = client.get("/v1/cases", params=params, headers=client.as_("admin"))
    assert answer.status_code == 422 and answer.json()["message"]
