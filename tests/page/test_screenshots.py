"""The console as a moderator sees it, at 1280x800 and 400 px wide: readable, nothing off-screen
sideways, no console errors. A run writes its screenshots to a temporary folder; with
VIGIL_SCREENSHOTS=1 it refreshes the ones kept in docs/screenshots/ (the README shows one)."""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.page.conftest import abuse_analysis

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def shots(tmp_path) -> Path:
    return DOCS if os.environ.get("VIGIL_SCREENSHOTS") == "1" else tmp_path

SAMPLES = [
    ("forum-post-48121", "high", "You are a worthless idiot and everyone here knows it. Log off before I find where you live.",
     ["You are a worthless idiot and everyone here knows it.", "Log off before I find where you live."]),
    ("forum-post-48133", "medium", "Honestly this take is garbage, you absolute clown.", ["you absolute clown"]),
    ("market-listing-9002", "medium", "CHEAP followers!!! 10k for $5, DM now, limited offer, click the link in bio",
     ["10k for $5, DM now"]),
    ("forum-post-48140", "low", "Stop posting this nonsense in every thread, seriously.", []),
]


def arrange_desk(arrange) -> None:
    now = datetime.now(timezone.utc)
    # (waited, review target, priority, claimed by): one overdue and escalated, one nearly due, one held.
    queue = [(timedelta(hours=5), timedelta(hours=4), 40, None), (timedelta(minutes=50), timedelta(hours=1), 30, None),
             (timedelta(hours=3), timedelta(hours=24), 20, "mod-ben"), (timedelta(minutes=5), timedelta(hours=72), 10, None)]
    for n, ((ext, severity, text, triggers), (waited, target, priority, holder)) in enumerate(zip(SAMPLES, queue)):
        arrange(external_id=ext, author_id=f"user-{n + 7}", text=text,
                analysis=abuse_analysis(triggers=triggers, severity=severity),
                columns={"priority": priority, "created_at": now - waited, "due_at": now - waited + target,
                         "claimed_by": holder, "claim_expires_at": holder and now + timedelta(minutes=8)})


def shoot(seen, folder: Path, name: str, width: int) -> None:
    page = seen.page
    page.locator("#case-text").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide in a {width} px window"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))
    assert seen.errors == []


def test_screenshots_at_1280_and_400(desk, arrange, shots):
    arrange_desk(arrange)
    wide = desk("mod-ana")
    wide.page.locator("#queue .item").nth(3).wait_for()
    wide.page.keyboard.press("n")  # the most urgent case, claimed
    expect(wide.page.locator("#case h2 bdi")).to_have_text("forum-post-48121")
    wide.page.keyboard.press("4")
    shoot(wide, shots, "console-1280x800.png", 1280)

    narrow = desk("mod-ben", width=400, height=860)
    narrow.page.locator("#queue .item").nth(3).wait_for()
    narrow.page.locator("#queue .item", has_text="market-listing-9002").click()  # the case mod-ben holds
    expect(narrow.page.locator("#case .meta")).to_contain_text("claimed by you")
    shoot(narrow, shots, "console-400.png", 400)
