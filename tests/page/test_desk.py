"""A moderator's and an admin's work at the desk, in the browser, over the api alone (cases are
arranged in the database as the worker would have left them)."""

import httpx
from playwright.sync_api import expect

from shared.domain import Status
from tests.page.conftest import abuse_analysis


def case_json(console, keys, case_id: str, *, as_: str = "sup-cy") -> dict:
    return httpx.get(f"{console.api_url}/v1/cases/{case_id}", headers={"X-API-Key": keys[as_]}).json()


def test_a_moderator_works_the_queue_from_the_keyboard(desk, arrange, console, keys):
    for name in ("case-a", "case-b"):
        arrange(external_id=name, analysis=abuse_analysis(triggers=[], suggested="remove"))
    seen = desk("mod-ana")
    page = seen.page
    page.locator("#queue .item").nth(1).wait_for()

    page.keyboard.press("n")  # next case: claimed for me, its form ready
    form = page.locator("#case form.decide")
    form.wait_for()
    first_id = page.locator("#case h2 bdi").text_content()
    first = page.locator(f"#queue .item:has-text('{first_id}')").get_attribute("data-id")
    expect(page.locator("#case .meta")).to_contain_text("claimed by you")
    page.keyboard.press("2")  # the second allowed decision: warn
    expect(form.locator("input[value=warn]")).to_be_checked()
    page.keyboard.press("Tab")  # from the decision to the note
    page.keyboard.type("second offence this week")
    page.keyboard.press("Control+Enter")

    expect(page.locator("#message")).to_contain_text("accepted")
    expect(page.locator(f"#queue .item[data-id='{first}']")).to_have_count(0)  # it left the queue
    decided = case_json(console, keys, first)
    assert decided["status"] == "executing"
    assert [(d["decision"], d["note"], d["decided_by"]) for d in decided["decisions"]] == [
        ("warn", "second offence this week", "mod-ana")]
    with page.expect_response(lambda response: "/v1/cases?" in response.url):
        pass  # a poll of the queue goes by ...
    expect(page.locator("#message")).to_contain_text("accepted")  # ... and the outcome stays on screen

    page.keyboard.press("n")
    expect(page.locator("#case h2 bdi")).not_to_have_text(first_id)
    expect(page.locator("#message")).to_be_empty()  # the next action replaced the last outcome
    form = page.locator("#case form.decide")
    expect(form.locator("input[name=decision]:checked")).to_have_value("remove")  # the schema's default, not "warn"
    expect(form.locator("textarea[name=note]")).to_have_value("")  # nothing typed on the last case
    assert seen.errors == []


def test_two_moderators_taking_next_at_once_get_different_cases(desk, arrange):
    for name in ("case-a", "case-b", "case-c"):
        arrange(external_id=name)
    ana, ben = desk("mod-ana"), desk("mod-ben")
    for seen in (ana, ben):
        seen.page.locator("#queue .item").nth(2).wait_for()
    for seen in (ana, ben):  # both requests in flight together
        seen.page.evaluate("document.getElementById('next').click()")
    taken = []
    for seen in (ana, ben):
        seen.page.locator("#case form.decide").wait_for()
        expect(seen.page.locator("#case .meta")).to_contain_text("claimed by you")
        taken.append(seen.page.locator("#case h2 bdi").text_content())
    assert len(set(taken)) == 2
    # Each sees the other's claim in the queue once it polls.
    held_by_ana = ben.page.locator("#queue .item", has_text=taken[0])
    expect(held_by_ana).to_contain_text("claimed by mod-ana", timeout=15_000)
    held_by_ana.click()  # ben may look at ana's case, but the server does not let him decide it
    expect(ben.page.locator("#case")).to_contain_text("someone else holds the claim")
    expect(ben.page.locator("#case form.decide")).to_have_count(0)
    assert ana.errors == [] and ben.errors == []


def test_a_round_two_case_is_not_offered_to_moderators_and_a_supervisor_decides_it(desk, arrange, console, keys):
    case_id = arrange(round=2, decided_by="mod-ana", external_id="appealed-case")
    moderator = desk("mod-ana")
    moderator.page.locator(f"#queue .item[data-id='{case_id}']").click()
    expect(moderator.page.locator("#case")).to_contain_text("not yours to decide")
    expect(moderator.page.locator("#case form.decide")).to_have_count(0)
    moderator.page.keyboard.press("n")
    expect(moderator.page.locator("#message")).to_contain_text("Nothing left")

    supervisor = desk("sup-dee")
    supervisor.page.keyboard.press("n")
    expect(supervisor.page.locator("#case h2 bdi")).to_have_text("appealed-case")
    supervisor.page.keyboard.press("1")  # dismiss
    supervisor.page.keyboard.press("Control+Enter")
    expect(supervisor.page.locator("#message")).to_contain_text("accepted")
    assert case_json(console, keys, case_id)["decisions"][-1]["decided_by"] == "sup-dee"
    assert moderator.errors == [] and supervisor.errors == []


def test_an_admin_sees_failed_cases_and_retries_one(desk, arrange, console, keys):
    case_id = arrange(Status.FAILED, external_id="failed-case",
                      error={"step": "execute", "message": "platform answered 503", "attempts": 3})
    admin = desk("admin")
    expect(admin.page.get_by_label("Show")).to_have_value("failed")
    admin.page.locator(f"#queue .item[data-id='{case_id}']").click()
    expect(admin.page.locator("#case")).to_contain_text("Failed at execute")
    admin.page.get_by_role("button", name="Retry from the last checkpoint").click()
    expect(admin.page.locator("#message")).to_contain_text("accepted")
    assert case_json(console, keys, case_id)["status"] != "failed"
    assert admin.errors == []
