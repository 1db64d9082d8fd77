"""The console in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser), against the api as a real process. Every page the tests open has requests to other
hosts aborted and recorded, and its console errors, uncaught exceptions and dialogs collected."""

import os
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from demo.stack import Stack
from shared.db import transaction
from shared.domain import Status
from shared.models import Case
from services.worker.review import review_payload
from tests.support.processes import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
REVIEW_ROUND_2 = 2


@pytest.fixture(scope="package")  # ends with tests/page: its event loop would block asyncio.run elsewhere
def browser() -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: deploy/bootstrap.sh installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def console_settings(settings):
    # A browser fetches the page's files without a key; the tests open many pages from one address.
    return settings.model_copy(update={"rate_limit_unauthenticated": 10_000.0, "rate_limit_unauthenticated_burst": 10_000})


@pytest.fixture(scope="module")
def console(settings):
    """The api alone (cases are arranged in the database, no worker runs): it serves the console."""
    stack = Stack(console_settings(settings), api_port=free_port())
    try:
        stack.start_api()
        yield stack
    finally:
        stack.stop()


class Watched:
    """A page and what it did that a person should never see: errors, dialogs, calls to other hosts."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def open_page(browser: Browser):
    """open_page(url, width=, height=) -> Watched; afterwards, no page may have reached another host."""
    contexts, watched = [], []

    def open_(url: str, *, width: int = 1280, height: int = 800) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        seen = Watched(page)
        watched.append(seen)

        def only_local(route) -> None:
            if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
                route.continue_()
            else:
                seen.outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        page.goto(url)
        return seen

    yield open_
    for context in contexts:
        context.close()
    assert [url for seen in watched for url in seen.outside] == []


def sign_in(page: Page, key: str) -> None:
    """As a person would: the key into its labelled field, Enter."""
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.locator("#who").filter(has_text="·").wait_for()


@pytest.fixture
def desk(open_page, console, keys):
    """desk("mod-ana") -> the console signed in as that person (1280x800 unless told)."""

    def open_(name: str, **size) -> Watched:
        seen = open_page(f"{console.api_url}/", **size)
        sign_in(seen.page, keys[name])
        return seen

    return open_


@pytest.fixture
def arrange(case_in, sessions):
    """A case in a given state, as the worker would have left it, with the content and analysis asked for."""

    def arrange_(status: Status = Status.AWAITING_REVIEW, *, text: str = "some words", author_id: str = "u-1",
                 external_id: str | None = None, analysis: dict | None = None, columns: dict | None = None,
                 **case_args) -> str:
        """`columns` sets the case's own fields as they are stored (priority, due_at, created_at, ...)."""
        case_id = case_in(status, **case_args)
        with transaction(sessions) as session:
            case = session.get(Case, uuid.UUID(case_id))
            case.content = {"text": text, "author_id": author_id}
            if external_id is not None:
                case.external_id = external_id
            if analysis is not None:
                case.analysis = analysis
            for name, value in (columns or {}).items():
                setattr(case, name, value)
            if case.review is not None:
                case.review = review_payload(case_id=case_id, round=case.review_round, attempt=case.review_attempt,
                                             content=case.content, analysis=case.analysis, reanalyze_limit=2)
        return case_id

    return arrange_


def abuse_analysis(*, triggers: list[str], severity: str = "medium", suggested: str = "remove") -> dict:
    return {"category": "abuse", "severity": severity, "confidence": 0.82, "needs_review": True,
            "suggested_decision": suggested, "source": "embedded", "triggers": triggers,
            "reasons": ["abusive language aimed at a person"],
            "scores": {"abuse": 0.82, "abuse_top_sentence": 0.91, "spam": 0.03}}

