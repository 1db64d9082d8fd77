"""The queue: every case reachable (pages past 100), by keyboard, with labelled fields."""

from shared.domain import Status


def test_the_queue_pages_past_100_cases(desk, arrange):
    for n in range(130):
        arrange(external_id=f"case-{n:03}")
    page = desk("sup-cy").page
    page.locator("#queue .item").nth(99).wait_for()
    assert page.locator("#queue .item").count() == 100
    assert page.locator("#count").text_content() == "(100+)"
    page.get_by_role("button", name="Show more").click()
    page.locator("#queue .item").nth(129).wait_for()
    assert page.locator("#queue .item").count() == 130
    assert page.locator("#count").text_content() == "(130)"
    assert page.get_by_role("button", name="Show more").is_hidden()
    shown = set(page.locator("#queue .item bdi.ext").all_text_contents())
    assert shown == {f"case-{n:03}" for n in range(130)}


def test_queue_items_are_reached_and_opened_from_the_keyboard(desk, arrange):
    first, second = arrange(external_id="first-case"), arrange(external_id="second-case")
    seen = desk("mod-ana")
    page = seen.page
    page.locator("#queue .item").nth(1).wait_for()
    page.locator("body").focus()
    for _ in range(12):  # Tab through the header to the queue
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('item')"):
            break
    focused = page.evaluate("document.activeElement.dataset.id")
    assert focused in (first, second)
    page.keyboard.press("Enter")
    page.locator("#case h2").wait_for()
    assert page.locator("#queue .item[aria-current=true]").get_attribute("data-id") == focused
    page.keyboard.press("j")
    page.locator(f"#queue .item[aria-current=true]:not([data-id='{focused}'])").wait_for()
    assert seen.errors == []


def test_every_field_has_an_accessible_name(desk, arrange):
    arrange(Status.CLOSED, external_id="closed-case")
    page = desk("sup-cy").page
    page.get_by_label("Show").select_option("closed")
    page.locator("#queue .item").first.click()
    page.locator("#case h2").wait_for()
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button, meter')]
        .filter((e) => !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                        && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map((e) => e.outerHTML)""")
    assert unnamed == []
