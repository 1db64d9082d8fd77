"""A supervisor's appeal and the second review, in the browser, on the whole stack: api, relay and
worker as processes acting on the demo platform."""

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from demo.stack import Stack
from tests.page.conftest import console_settings
from tests.support.processes import free_port, wait_until

ABUSIVE = "You are a worthless idiot and everybody hates you, shut up you moron"


@pytest.fixture(scope="module")
def console(settings, platform):
    """Overrides the api-only console of conftest.py: here the worker really runs the cases."""
    stack = Stack(console_settings(settings), api_port=free_port())
    try:
        stack.start_api()
        stack.start_relay()
        stack.start_worker(threads=2)
        yield stack
    finally:
        stack.stop()


class Removed:
    """An abusive case posted by the upstream and removed by mod-ana in the browser, closed."""

    def __init__(self, desk, console, keys) -> None:
        self.staff = httpx.Client(base_url=console.api_url, headers={"X-API-Key": keys["sup-cy"]}, timeout=10)
        self.external_id = f"post-{uuid.uuid4().hex[:8]}"
        posted = httpx.post(f"{console.api_url}/v1/cases", headers={"X-API-Key": keys["upstream"]},
                            json={"external_id": self.external_id, "content": {"text": ABUSIVE, "author_id": "troll"}})
        self.case_id = posted.json()["case_id"]
        self.reached("awaiting_review", 1)
        self.moderator = desk("mod-ana")
        self.moderator.page.keyboard.press("n")
        expect(self.moderator.page.locator("#case h2 bdi")).to_have_text(self.external_id)
        self.moderator.page.keyboard.press("3")  # remove
        self.moderator.page.keyboard.press("Control+Enter")
        expect(self.moderator.page.locator("#message")).to_contain_text("accepted")
        self.reached("closed", 1)

    def reached(self, status: str, round: int) -> None:
        wait_until(lambda: (lambda c: c["status"] == status and c["review_round"] == round)(
            self.staff.get(f"/v1/cases/{self.case_id}").json()), timeout=60, interval=0.2,
            what=f"{status} in round {round}")


def test_a_supervisor_appeals_and_another_supervisor_reviews_again(desk, console, keys, fresh_platform):
    case = Removed(desk, console, keys)
    staff, external_id, case_id, reached, moderator = (case.staff, case.external_id, case.case_id, case.reached,
                                                       case.moderator)

    appealing = desk("sup-cy")
    appealing.page.get_by_label("Show").select_option("closed")
    appealing.page.locator(f"#queue .item[data-id='{case_id}']").click()
    appealing.page.get_by_label("Reason (required)").fill("the post quotes the insult to report it")
    appealing.page.get_by_role("button", name="Appeal and roll back").click()
    expect(appealing.page.locator("#message")).to_contain_text("Appeal on")
    expect(appealing.page.locator("#message")).to_contain_text("accepted")
    reached("awaiting_review", 2)
    # The supervisor who appealed may not decide the second review; the page shows no form for it.
    appealing.page.get_by_label("Show").select_option("awaiting_review")
    appealing.page.locator(f"#queue .item[data-id='{case_id}']").click()
    expect(appealing.page.locator("#case .tag.awaiting_review")).to_be_visible()
    expect(appealing.page.locator("#case form.decide")).to_have_count(0)

    second = desk("sup-dee")
    second.page.keyboard.press("n")
    expect(second.page.locator("#case h2 bdi")).to_have_text(external_id)
    expect(second.page.locator("#case")).to_contain_text("round 2")
    second.page.keyboard.press("1")  # dismiss
    second.page.keyboard.press("Control+Enter")
    expect(second.page.locator("#message")).to_contain_text("accepted")
    reached("closed", 2)

    # The page tells the whole story: both decisions, the appeal, the removal and its reversal.
    expect(second.page.locator("#case .tag.closed").first).to_be_visible(timeout=15_000)
    decisions = second.page.locator("#case table").first
    expect(decisions).to_contain_text("remove")
    expect(decisions).to_contain_text("dismiss")
    expect(second.page.locator("#case")).to_contain_text("the post quotes the insult to report it")
    expect(second.page.locator("#case")).to_contain_text("(reversal)")
    expect(second.page.locator("#case .timeline")).to_contain_text("appeal")
    for seen in (moderator, appealing, second):
        assert seen.errors == [] and seen.dialogs == []
    staff.close()


def test_a_forwarded_complaint_is_reviewed_by_a_moderator_new_to_the_case_who_reads_it(desk, console, keys,
                                                                                       fresh_platform):
    case = Removed(desk, console, keys)
    external_id, case_id, reached, moderator = case.external_id, case.case_id, case.reached, case.moderator
    upstream = httpx.Client(base_url=console.api_url, headers={"X-API-Key": keys["upstream"]}, timeout=10)
    assert upstream.post(f"/v1/cases/{case_id}/complaints", json={
        "complainant": "affected_user", "basis": "disproportionate", "reference": "c-77",
        "text": "I was quoting the insult to report it."}).status_code == 202
    reached("awaiting_review", 2)

    moderator.page.keyboard.press("n")  # nothing for her: she decided the case
    expect(moderator.page.locator("#message")).to_contain_text("Nothing")
    second = desk("mod-ben")
    second.page.keyboard.press("n")
    expect(second.page.locator("#case h2 bdi")).to_have_text(external_id)
    form = second.page.locator("#case form.decide")
    expect(form).to_contain_text("A complaint by the affected user (disproportionate)")
    expect(form).to_contain_text("I was quoting the insult to report it.")
    second.page.keyboard.press("1")  # dismiss
    second.page.keyboard.press("Control+Enter")
    expect(second.page.locator("#message")).to_contain_text("accepted")
    reached("closed", 2)
    for seen in (moderator, second):
        assert seen.errors == [] and seen.dialogs == []
    case.staff.close()
    upstream.close()
