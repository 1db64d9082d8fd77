"""The console as a moderator sees it, at 1280x800 and 400 px wide: readable, nothing off-screen
sideways, no console errors. The screenshots are kept in docs/screenshots/ (the README shows one)."""

from pathlib import Path

from shared.domain import Status
from tests.page.conftest import abuse_analysis

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

SAMPLES = [
    ("forum-post-48121", "high", "You are a worthless idiot and everyone here knows it. Log off before I find where you live.",
     ["You are a worthless idiot and everyone here knows it.", "Log off before I find where you live."]),
    ("forum-post-48133", "medium", "Honestly this take is garbage, you absolute clown.", ["you absolute clown"]),
    ("market-listing-9002", "medium", "CHEAP followers!!! 10k for $5, DM now, limited offer, click the link in bio",
     ["10k for $5, DM now"]),
    ("forum-post-48140", "low", "Stop posting this nonsense in every thread, seriously.", []),
]


def arrange_desk(arrange) -> str:
    ids = [arrange(external_id=ext, author_id=f"user-{n + 7}", text=text,
                   analysis=abuse_analysis(triggers=triggers, severity=severity))
           for n, (ext, severity, text, triggers) in enumerate(SAMPLES)]
    return ids[0]


def shoot(seen, name: str, width: int) -> None:
    page = seen.page
    page.locator("#case-text").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide in a {width} px window"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
    assert seen.errors == []


def test_screenshots_at_1280_and_400(desk, arrange):
    first = arrange_desk(arrange)
    wide = desk("mod-ana")
    wide.page.locator(f"#queue .item[data-id='{first}']").click()
    shoot(wide, "console-1280x800.png", 1280)

    narrow = desk("mod-ben", width=400, height=860)
    narrow.page.locator(f"#queue .item[data-id='{first}']").click()
    narrow.page.locator("#case-text").scroll_into_view_if_needed()
    shoot(narrow, "console-400.png", 400)
