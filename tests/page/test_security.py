"""The console and the docs cannot be framed, run only this server's scripts, and need no other host."""

import httpx
import pytest

EXPECTED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/app.css", "/docs", "/v1/me", "/healthz", "/nowhere"])
def test_every_response_carries_the_security_headers(console, path):
    response = httpx.get(f"{console.api_url}{path}")
    for name, value in EXPECTED.items():
        assert response.headers[name] == value, (path, name)
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


def test_only_named_static_files_are_served(console):
    for path in ("/static/index.html", "/static/docs.html", "/static/..%2f..%2fapp.py", "/static/swagger/index.html", "/static/nothing.js"):
        assert httpx.get(f"{console.api_url}{path}").status_code == 404, path


def test_another_site_cannot_frame_the_console(open_page, console):
    framing = open_page(f"{console.api_url}/healthz")  # any page of another origin would do; this one is local
    framing.page.set_content(f'<iframe id="f" src="{console.api_url.replace("127.0.0.1", "localhost")}/"></iframe>')
    framing.page.locator("#f").element_handle().content_frame().wait_for_load_state()
    child = framing.page.frames[1]
    assert child.url.startswith("chrome-error:")  # the browser refused to render the console in a frame
    assert framing.page.frame_locator("#f").locator("#login").count() == 0
    framing.errors.clear()  # Chromium reports the refusal on the console: that refusal is the point


def test_docs_load_with_no_request_to_another_host(open_page, console):
    docs = open_page(f"{console.api_url}/docs")
    docs.page.locator(".swagger-ui .info .title").filter(has_text="Vigil").wait_for()
    docs.page.locator(".opblock-tag").first.wait_for()
    assert docs.outside == []
    assert docs.errors == []
