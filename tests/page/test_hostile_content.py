"""Hostile content is shown as the text it is: nothing runs, nothing is injected, no direction
override spills out of the field it came in."""

from tests.page.conftest import abuse_analysis

RLO = "\u202e"
SCRIPT = "<script>alert('script')</script>"
IMAGE = "<img src=x onerror=alert('img')>"
LINK = "<a href=\"javascript:alert('link')\">click me</a>"
SVG = "<svg onload=alert('svg')></svg>"
HEAD = f"{SCRIPT} {IMAGE} {LINK} {SVG} {RLO}gnp.exe "


def hostile_text(length: int = 20_000) -> str:
    filler = "lorem ipsum dolor sit amet " * (length // 27 + 1)
    return (HEAD + filler)[:length]


def test_hostile_content_is_shown_literally_and_runs_nothing(desk, arrange):
    text = hostile_text()
    external_id = f"<img/src=x/onerror=alert('id')>{RLO}evil"
    author = f"{RLO}<b>author</b>"
    arrange(text=text, external_id=external_id, author_id=author,
            analysis=abuse_analysis(triggers=[SCRIPT, IMAGE]) | {"reasons": [f"{LINK} reason"]})
    moderator = desk("mod-ana")
    page = moderator.page

    item = page.locator("#queue .item").first
    assert item.locator("bdi.ext").text_content() == external_id  # an isolated, literal id
    item.click()
    shown = page.locator("#case-text")
    shown.wait_for()

    assert shown.text_content() == text  # all 20,000 characters, as text
    assert shown.get_attribute("dir") == "auto"
    assert page.locator("#case-text mark").all_text_contents()[:2] == [SCRIPT, IMAGE]  # triggers highlighted
    assert page.locator("#case h2 bdi").text_content() == external_id
    assert page.locator("#case .meta bdi").first.text_content() == author
    assert page.get_by_text("hidden direction control").count() == 1  # the moderator is told

    # Nothing from the content became an element or ran.
    assert page.locator("img, svg, iframe, object, embed").count() == 0
    assert page.locator("a[href^='javascript' i]").count() == 0
    assert page.locator("script").count() == 1  # app.js, and nothing else
    assert page.locator("#case b").all_text_contents() == ["remove"]  # only the page's own <b>
    page.mouse.click(10, 10)
    page.wait_for_timeout(300)  # would an onerror or onload have fired, it would have by now
    assert moderator.dialogs == []
    assert moderator.errors == []
