"""The appeal window on the page: while it is open a supervisor sees the appeal form and until when;
once it has closed, the date it closed instead of the form."""

from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from shared.domain import Status


def open_closed_case(desk, external_id: str):
    seen = desk("sup-cy")
    seen.page.get_by_label("Show").select_option("closed")
    seen.page.locator("#queue .item", has_text=external_id).click()
    expect(seen.page.locator("#case h2 bdi")).to_have_text(external_id)
    return seen


def test_an_open_window_shows_the_appeal_form_and_its_end(desk, arrange):
    until = datetime.now(timezone.utc) + timedelta(days=100)
    arrange(Status.CLOSED, external_id="still-open", columns={"appealable_until": until})
    seen = open_closed_case(desk, "still-open")
    expect(seen.page.locator("#case form.appeal")).to_contain_text("Open until")
    assert seen.errors == []


def test_a_closed_window_shows_its_date_instead_of_the_appeal_form(desk, arrange):
    closed_on = datetime(2026, 5, 25, 12, 0, tzinfo=timezone.utc)
    arrange(Status.CLOSED, external_id="window-closed",
            columns={"appealable_until": closed_on, "final_at": closed_on + timedelta(minutes=1)})
    seen = open_closed_case(desk, "window-closed")
    notice = seen.page.locator("#case .window-closed")
    expect(notice).to_contain_text("appeal window closed on")
    shown = seen.page.evaluate("(iso) => new Date(iso).toLocaleString()", closed_on.isoformat())
    expect(notice).to_contain_text(shown)  # the date, as the page writes dates
    expect(seen.page.locator("#case form.appeal")).to_have_count(0)
    assert seen.errors == []
