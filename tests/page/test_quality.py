"""The quality desk in the browser, over the api alone: a QA reviewer takes a sampled closed case
blind and decides it, and supervisors read the machine's accuracy those reviews give. Samples are
arranged in the database as the worker and the scheduler would have left them. A run writes its
screenshots to a temporary folder; with VIGIL_SCREENSHOTS=1 it refreshes those in docs/screenshots/."""

import os
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from shared.db import transaction
from shared.domain import Status
from tests.page.test_screenshots import arrange_desk

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MODEL = "textmodel@abcd1234"
REOPENED = "Recorded. It had closed on its own and now goes to a moderator."
VIOLATION = "Violation (required unless dismiss)"
# What the analyser said of the case: none of it may reach the reviewer's page.
CLEAN_ANALYSIS = {"category": "clean", "severity": "none", "confidence": 0.97, "needs_review": False,
                  "suggested_decision": "dismiss", "source": "embedded", "triggers": [],
                  "reasons": ["no category scored above its threshold"], "models": {"fast": MODEL},
                  "scores": {"abuse": 0.04, "spam": 0.01}}
VERDICT_WORDS = ["clean", "category", "analysis", "confidence", "suggest", "severity", "threshold"]


@pytest.fixture
def shots(tmp_path) -> Path:
    return DOCS if os.environ.get("VIGIL_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture
def closed_sample(arrange, sessions):
    """closed_sample(text) -> (case_id, sample_id): a case that closed on its own, drawn for review."""

    def arrange_(body: str, *, author_id: str = "user-31", external_id: str = "forum-post-50112") -> tuple[str, str]:
        case_id = arrange(Status.AUTO_CLOSED, text=body, author_id=author_id, external_id=external_id,
                          analysis=CLEAN_ANALYSIS, columns={"final_at": datetime.now(timezone.utc)})
        with transaction(sessions) as session:
            sample_id = session.execute(text(
                "INSERT INTO qa_samples (id, case_id, tenant, round, kind, category, model, rate, draw, reason, closed_at)"
                " VALUES (gen_random_uuid(), :case_id, 'upstream', 1, 'auto', 'clean', :model, 0.02, 0.01, 'rate', now())"
                " RETURNING id"), {"case_id": case_id, "model": MODEL}).scalar_one()
        return case_id, str(sample_id)

    return arrange_


@pytest.fixture
def reviewed(sessions):
    """reviewed(n, kind=, decision=, first=, ...): n samples already reviewed (their cases purged)."""

    def arrange_(n: int, *, kind: str = "auto", decision: str = "dismiss", first: str | None = None,
                 tenant: str = "upstream", model: str = MODEL, days_ago: int = 0) -> None:
        violation = None if decision == "dismiss" else "abuse"
        with transaction(sessions) as session:
            session.execute(text(
                "INSERT INTO qa_samples (id, case_id, tenant, round, kind, category, model, first_decision, rate, draw,"
                "                        reason, closed_at, reviewed_by, decision, violation, reviewed_at)"
                " SELECT gen_random_uuid(), NULL, :tenant, 1, :kind, :category, :model, :first, 0.02, 0.01, 'rate',"
                "        now() - make_interval(days => :days_ago), 'qa-quinn', :decision, :violation, now()"
                " FROM generate_series(1, :n)"),
                {"n": n, "kind": kind, "decision": decision, "first": first, "tenant": tenant, "model": model,
                 "days_ago": days_ago, "violation": violation,
                 "category": "clean" if kind == "auto" else "abuse"})

    return arrange_


def sample_row(sessions, sample_id: str) -> dict:
    with sessions() as session:
        return dict(session.execute(text("SELECT * FROM qa_samples WHERE id = :id"), {"id": uuid.UUID(sample_id)}).one()._mapping)


def case_row(sessions, case_id: str) -> dict:
    with sessions() as session:
        return dict(session.execute(text("SELECT status, review_round, final_at FROM cases WHERE id = :id"),
                                    {"id": uuid.UUID(case_id)}).one()._mapping)


# The page's formatting, for figures read from the api.
def shown_rate(f: dict) -> str:
    if f["rate"] is None:
        return "—"
    return f"{f['rate'] * 100:.1f}% ({f['ci95_low'] * 100:.1f}–{f['ci95_high'] * 100:.1f}%) · n={f['reviewed']}"


def shown_kappa(f: dict) -> str:
    if f["kappa"] is None:
        return "—"
    signed = lambda x: f"{x:.2f}".replace("-", "\u2212")  # noqa: E731
    return f"{signed(f['kappa'])} ({signed(f['ci95_low'])}–{signed(f['ci95_high'])}) · n={f['pairs']}"


def rates_row(page, label: str, group: str | None = None):
    body = page.locator("#accuracy tbody").filter(has=page.locator("tr.group th", has_text=group)) if group \
        else page.locator("#accuracy tbody").first
    return body.locator("tr").filter(has=page.locator("th[scope=row]", has_text=re.compile(f"^{re.escape(label)}$")))


def arrange_figures(reviewed) -> None:
    """100 automatic closures reviewed, 3 found violating; 40 human decisions reviewed, 10 dismissed."""
    reviewed(97, decision="dismiss")
    reviewed(3, decision="remove")
    for first, second, n in [("remove", "remove", 18), ("warn", "warn", 8), ("remove", "dismiss", 4),
                             ("dismiss", "dismiss", 6), ("warn", "remove", 4)]:
        reviewed(n, kind="human", first=first, decision=second)


def test_a_qa_reviewer_decides_a_sample_blind_and_a_violating_automatic_closure_reopens(desk, closed_sample, sessions):
    body = "Meet me behind the gym after school, you filthy rat. I know which bus you take home."
    case_id, sample_id = closed_sample(body, author_id="user-31")
    seen = desk("qa-quinn")
    page = seen.page
    expect(page.locator("#queue-name")).to_have_text("Quality review")
    expect(page.locator("#queue-note")).to_contain_text("drawn at random from closed cases")
    expect(page.locator("#queue-note")).to_contain_text("blind")
    expect(page.get_by_label("Show")).to_be_hidden()  # no lists of cases for this role
    expect(page.locator("#accuracy")).to_be_hidden()

    page.keyboard.press("n")  # the next sample, held for me
    expect(page.locator("#case-text")).to_have_text(body)
    meta = page.locator("#case .meta")
    expect(meta).to_contain_text("tenant upstream")
    expect(meta).to_contain_text("by user-31")
    expect(meta).to_contain_text("held for you until")
    shown = page.locator("body").inner_text().lower()
    html = page.content().lower()
    for word in VERDICT_WORDS:  # blind: nothing of the analysis, on screen or in the page
        assert word not in shown and word not in html, word
    assert "forum-post-50112" not in html  # nor the case's identity on the platform
    assert "null" not in shown and "undefined" not in shown

    form = page.locator("#case form.decide")
    page.keyboard.press("1")  # dismiss: no violation to name
    expect(form.locator("input[value=dismiss]")).to_be_checked()
    expect(form.get_by_label(VIOLATION)).to_be_hidden()
    page.keyboard.press("3")  # remove: the violation is asked for
    expect(form.locator("input[value=remove]")).to_be_checked()
    expect(form.get_by_label(VIOLATION)).to_be_visible()
    page.keyboard.press("Control+Enter")  # refused by the form itself: no violation named
    expect(page.locator("#message")).to_be_empty()
    assert sample_row(sessions, sample_id)["reviewed_at"] is None

    form.get_by_label(VIOLATION).select_option("abuse")
    form.get_by_label("Note (optional)").fill("a threat, veiled")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#message")).to_have_text(REOPENED)
    expect(page.locator("#case")).to_contain_text("No sample waits for review.")  # the next one was asked for

    sample = sample_row(sessions, sample_id)
    assert (sample["reviewed_by"], sample["decision"], sample["violation"], sample["note"], sample["reopened"]) == (
        "qa-quinn", "remove", "abuse", "a threat, veiled", True)
    case = case_row(sessions, case_id)
    assert (case["status"], case["review_round"], case["final_at"]) == (Status.RECEIVED, 2, None)

    page.keyboard.press("n")
    expect(page.locator("#message")).to_have_text("No sample waits for review.")
    assert seen.errors == [] and seen.dialogs == []


def test_a_supervisor_reads_the_machine_accuracy_and_a_moderator_does_not(desk, reviewed, console, keys):
    arrange_figures(reviewed)
    supervisor = desk("sup-cy")
    page = supervisor.page
    panel = page.locator("#accuracy")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_have_text("Machine accuracy (last 28 days)")
    overall = rates_row(page, "Overall")
    expect(overall.locator("td").nth(0)).to_have_text("3.0% (1.0–8.5%) · n=100")

    today = datetime.now(timezone.utc).date()
    period = {"from": str(today - timedelta(days=27)), "to": str(today)}
    expect(panel.locator("caption")).to_contain_text(f"from {period['from']} to {period['to']}")
    figures = httpx.get(f"{console.api_url}/v1/qa/accuracy", params=period, headers={"X-API-Key": keys["sup-cy"]}).json()
    expected = figures["overall"]
    expect(overall.locator("td").nth(1)).to_have_text(shown_rate(expected["false_alarm_rate"]))
    assert expected["false_alarm_rate"]["rate"] == 0.25
    expect(overall.locator("td").nth(2)).to_have_text(shown_kappa(expected["agreement"]))
    assert expected["agreement"]["pairs"] == 40
    for group, key in [("Tenant", "upstream"), ("Model", MODEL)]:
        expect(rates_row(page, key, group).locator("td").nth(0)).to_have_text("3.0% (1.0–8.5%) · n=100")
    [week] = figures["by_week"]
    expect(rates_row(page, week, "Week of closing").locator("td").nth(0)).to_have_text("3.0% (1.0–8.5%) · n=100")
    # accessible: a caption, headers scoped to their columns and rows
    assert panel.locator("thead th[scope=col]").count() == 4
    assert panel.locator("tbody th[scope=row]").count() == 4
    expect(panel.locator(".hint")).to_contain_text("Miss rate:")
    expect(panel.locator(".hint")).to_contain_text("Cohen's kappa")
    assert not {"null", "undefined", "NaN"} & set(re.findall(r"\w+", panel.inner_text()))
    assert supervisor.errors == []

    moderator = desk("mod-ana")
    moderator.page.locator("#queue-note").filter(has_text="Nothing here.").wait_for()
    expect(moderator.page.locator("#accuracy")).to_be_hidden()
    expect(moderator.page.get_by_text("Machine accuracy")).to_be_hidden()
    asked = moderator.page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert not [url for url in asked if "/v1/qa/" in url]  # the page never asks on a moderator's behalf
    assert moderator.errors == []


def test_the_figures_say_none_without_reviews(desk):
    seen = desk("admin")
    overall = rates_row(seen.page, "Overall")
    expect(overall.locator("td")).to_have_text(["—", "—", "—"])
    expect(seen.page.locator("#accuracy")).to_contain_text("No sample closed in this period has been reviewed yet.")
    assert seen.errors == []


def fits(seen, width: int) -> None:
    overflow = seen.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide in a {width} px window"
    assert seen.errors == []


def test_screenshots_of_the_accuracy_panel_and_the_qa_desk(desk, arrange, reviewed, closed_sample, shots):
    arrange_desk(arrange)
    arrange_figures(reviewed)
    reviewed(58, tenant="forum-eu", model="textmodel@77e1f0c2", days_ago=9)
    reviewed(2, tenant="forum-eu", model="textmodel@77e1f0c2", decision="warn", days_ago=9)
    reviewed(12, kind="human", tenant="forum-eu", model="textmodel@77e1f0c2", first="remove", decision="remove", days_ago=9)
    reviewed(3, kind="human", tenant="forum-eu", model="textmodel@77e1f0c2", first="warn", decision="dismiss", days_ago=9)
    shots.mkdir(parents=True, exist_ok=True)

    wide = desk("sup-cy")
    wide.page.locator("#queue .item").nth(3).wait_for()
    rates_row(wide.page, "forum-eu", "Tenant").wait_for()
    fits(wide, 1280)
    wide.page.screenshot(path=str(shots / "accuracy-1280x800.png"))

    narrow = desk("sup-dee", width=400, height=860)
    rates_row(narrow.page, "forum-eu", "Tenant").wait_for()
    narrow.page.locator("#accuracy").scroll_into_view_if_needed()
    fits(narrow, 400)
    narrow.page.screenshot(path=str(shots / "accuracy-400.png"))

    closed_sample("Anyone who shops at that store deserves what they get. Their manager lives on Elm St, "
                  "number 14, go tell him what you think.", author_id="user-58")
    qa = desk("qa-quinn")
    qa.page.keyboard.press("n")
    qa.page.locator("#case-text").wait_for()
    qa.page.keyboard.press("3")
    form = qa.page.locator("#case form.decide")
    form.get_by_label(VIOLATION).select_option("personal_data")
    form.get_by_label("Note (optional)").fill("a home address, and a call to go there")
    fits(qa, 1280)
    qa.page.screenshot(path=str(shots / "qa-desk-1280x800.png"))

    narrow_qa = desk("qa-quinn", width=400, height=860)  # the same reviewer again: the sample they hold
    narrow_qa.page.keyboard.press("n")
    narrow_qa.page.locator("#case-text").wait_for()
    narrow_qa.page.keyboard.press("4")
    expect(narrow_qa.page.locator("#case").get_by_label(VIOLATION)).to_be_visible()
    fits(narrow_qa, 400)
